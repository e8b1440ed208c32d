import Foundation
import Hummingbird
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
package struct CIDR: Sendable, Equatable, CustomStringConvertible {
    let network: [UInt8]
    let prefix: Int

    package init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let bytes = Self.bytes(of: first) else { return nil }
        let bits = bytes.count * 8
        let prefix = parts.count == 2 ? Int(parts[1]) : bits
        guard let prefix, (0...bits).contains(prefix) else { return nil }
        self.network = bytes
        self.prefix = prefix
    }

    package var description: String { "\(network.map(String.init).joined(separator: "."))/\(prefix)" }

    /// Whether `address` (textual IPv4 or IPv6; an IPv4-mapped IPv6 address counts as IPv4) is inside.
    package func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address), bytes.count == network.count else { return false }
        var remaining = prefix
        for index in 0..<bytes.count where remaining > 0 {
            let take = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if bytes[index] & mask != network[index] & mask { return false }
            remaining -= take
        }
        return true
    }

    /// The address's bytes: 4 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6; nil when it is not an address.
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        guard inet_pton(AF_INET6, bare, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12..<16]) }
        return bytes
    }
}

/// Decides the client's address: the socket peer, unless the peer is a configured proxy, in which case
/// the `X-Forwarded-For` chain is walked from the right past the trusted proxies. A header from anyone
/// else is ignored, so a client cannot choose the address stored for its deliveries or used for throttling.
package struct ClientAddressResolver: Sendable {
    let trustedProxies: [CIDR]

    package init(trustedProxies: [CIDR]) {
        self.trustedProxies = trustedProxies
    }

    func isTrusted(_ address: String) -> Bool { trustedProxies.contains { $0.contains(address) } }

    package func resolve(peer: String, forwardedFor: [String]) -> String {
        guard !peer.isEmpty, isTrusted(peer) else { return peer }
        let chain = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in chain.reversed() {
            guard CIDR.bytes(of: hop) != nil else { return peer }  // garbage: believe only the socket
            if !isTrusted(hop) { return hop }
        }
        return chain.first(where: { CIDR.bytes(of: $0) != nil }) ?? peer
    }
}

/// Failed authentication per client address: after `limit` failures within `window`, every request of
/// that address that presents a token answers 429 with Retry-After until the window has passed, even with
/// a correct token, so guessing keys or the admin token costs a window per `limit` tries.
package final class AuthFailureThrottle: Sendable {
    private struct Record {
        var failures: Int
        var windowStart: ContinuousClock.Instant
    }

    private let records = Mutex<[String: Record]>([:])
    let limit: Int
    let window: Duration

    package init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Seconds to wait when `address` is throttled now, nil when it may try.
    package func blocked(_ address: String, now: ContinuousClock.Instant = .now) -> Int? {
        records.withLock { records in
            guard let record = records[address] else { return nil }
            let elapsed = now - record.windowStart
            if elapsed >= window {
                records[address] = nil
                return nil
            }
            guard record.failures >= limit else { return nil }
            return max(1, Int((window - elapsed).components.seconds) + 1)
        }
    }

    package func recordFailure(_ address: String, now: ContinuousClock.Instant = .now) {
        records.withLock { records in
            var record = records[address] ?? Record(failures: 0, windowStart: now)
            if now - record.windowStart >= window { record = Record(failures: 0, windowStart: now) }
            record.failures += 1
            records[address] = record
            // Addresses that went quiet are dropped now and then, so the map stays small.
            if records.count > 50_000 { records = records.filter { now - $0.value.windowStart < window } }
        }
    }
}
