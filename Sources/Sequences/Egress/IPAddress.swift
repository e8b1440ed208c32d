import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address.
package enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Four bytes, most significant first.
    case v4(UInt8, UInt8, UInt8, UInt8)
    /// Sixteen bytes.
    case v6([UInt8])

    /// Parses a literal (`10.0.0.1`, `::1`, `[::1]`); `nil` for anything else, including host names and
    /// the shorthand forms (`0x7f.1`, `2130706433`) that only `getaddrinfo` reads — those go through the
    /// resolver, whose answer is checked like any other.
    package init?(_ text: String) {
        var literal = text
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            self = withUnsafeBytes(of: &v4) { .v4($0[0], $0[1], $0[2], $0[3]) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: &v6) { Array($0) })
            return
        }
        return nil
    }

    /// Dotted quad or IPv6 text (no brackets).
    package var description: String {
        switch self {
        case let .v4(a, b, c, d): return "\(a).\(b).\(c).\(d)"
        case .v6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes.prefix(16)) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
            let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: text, as: UTF8.self)
        }
    }

    /// The address as a URL host: IPv6 in brackets.
    package var urlHost: String {
        if case .v6 = self { return "[\(description)]" }
        return description
    }
}
