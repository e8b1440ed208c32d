import Foundation
import NIOPosix

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

    /// Parses a literal (`10.0.0.1`, `::1`, `[::1]`); `nil` for anything else, including host names.
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

    /// Dotted quad or IPv6 text.
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
}

/// Which addresses outgoing webhooks may reach.
///
/// A tenant chooses the URL of an outgoing webhook, so without a check it could make our server call
/// what only our server can reach: loopback services, the private network, or the cloud metadata endpoint
/// (169.254.169.254) that hands out credentials. Every address a host resolves to is checked, not just
/// the first, so a name with one public and one private address is refused.
///
/// Limits, stated so nobody relies on more: the check resolves before the HTTP client connects and the
/// client resolves again, so a DNS answer that changes in between (rebinding with a near-zero TTL) is not
/// caught; redirects must be disabled on the client (see ``ExecutorHTTPClient/configuration()``).
package enum TargetAddressPolicy {
    /// Why `address` may not be a webhook target, or `nil` when it may.
    package static func refusal(for address: IPAddress) -> String? {
        switch address {
        case let .v4(a, b, _, _):
            switch (a, b) {
            case (0, _): return "unspecified or \"this network\" address"
            case (10, _): return "private address (10.0.0.0/8)"
            case (100, 64...127): return "carrier-grade NAT address (100.64.0.0/10)"
            case (127, _): return "loopback address"
            case (169, 254): return "link-local address (includes the cloud metadata endpoint)"
            case (172, 16...31): return "private address (172.16.0.0/12)"
            case (192, 168): return "private address (192.168.0.0/16)"
            case (224...255, _): return "multicast or reserved address"
            default: return nil
            }
        case .v6(let bytes):
            guard bytes.count == 16 else { return "malformed address" }
            if bytes.allSatisfy({ $0 == 0 }) { return "unspecified address" }
            if bytes[0..<15].allSatisfy({ $0 == 0 }), bytes[15] == 1 { return "loopback address" }
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses reach the IPv4 host.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), (bytes[10] == 0xFF && bytes[11] == 0xFF) || (bytes[10] == 0 && bytes[11] == 0) {
                return refusal(for: .v4(bytes[12], bytes[13], bytes[14], bytes[15]))
            }
            if bytes[0] & 0xFE == 0xFC { return "unique local address (fc00::/7)" }
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return "link-local address (fe80::/10)" }
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0xC0 { return "site-local address (fec0::/10)" }
            if bytes[0] == 0xFF { return "multicast address" }
            return nil
        }
    }

    /// Every address `host` resolves to. Literals are returned as they are, without a lookup.
    ///
    /// The lookup is a blocking `getaddrinfo`, run on NIO's thread pool so it does not hold a thread of
    /// the cooperative pool.
    package static func resolve(host: String) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive {
            try lookUp(host)
        }
    }

    private static func lookUp(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else { throw ResolutionError(host: host, code: status) }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let socketAddress = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    var address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    addresses.append(withUnsafeBytes(of: &address) { .v4($0[0], $0[1], $0[2], $0[3]) })
                case AF_INET6:
                    var address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    addresses.append(.v6(withUnsafeBytes(of: &address) { Array($0) }))
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// A host name that did not resolve.
    package struct ResolutionError: Error, CustomStringConvertible {
        /// The name.
        package var host: String
        /// `getaddrinfo`'s status.
        package var code: Int32

        /// A message naming the host.
        package var description: String { "could not resolve \(host) (getaddrinfo \(code))" }
    }
}
