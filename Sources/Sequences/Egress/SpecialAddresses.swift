import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The addresses no outbound request may reach: the IANA IPv4 and IPv6 special-purpose address
/// registries (RFC 6890 and its updates, as published in 2026), multicast, cloud metadata endpoints, and
/// this host's own interface addresses.
///
/// The registries mark some blocks "globally reachable" (AS112, 6to4 relays, the PCP and TURN anycast
/// addresses); they are refused anyway: none of them is a Kommo, LLM or webhook receiver, and refusing a
/// whole block is simpler to audit than its exceptions. For IPv6 everything outside global unicast
/// (`2000::/3`) is refused, except IPv4-mapped addresses, which are judged by the IPv4 address they carry.
package enum SpecialAddresses {
    /// Why nothing may be sent to `address`, or `nil` when it is an ordinary public address.
    package static func refusal(for address: IPAddress) -> String? {
        switch address {
        case let .v4(a, b, c, d):
            let value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
            if metadataV4.contains(value) { return "cloud metadata endpoint" }
            for block in v4Blocks where value & block.mask == block.network { return block.reason }
            return nil
        case .v6(let bytes):
            guard bytes.count == 16 else { return "malformed address" }
            // ::ffff:a.b.c.d reaches the IPv4 host a.b.c.d; judge that address.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return refusal(for: .v4(bytes[12], bytes[13], bytes[14], bytes[15])).map { "IPv4-mapped \($0)" }
            }
            if metadataV6.contains(bytes) { return "cloud metadata endpoint" }
            for block in v6Blocks where matches(bytes, block.prefix, bits: block.bits) { return block.reason }
            // Only 2000::/3 is allocated for global unicast; the rest is reserved or special.
            if bytes[0] & 0xE0 != 0x20 { return "reserved IPv6 address (outside 2000::/3)" }
            return nil
        }
    }

    // MARK: Tables

    /// Metadata services reached at addresses that are not otherwise special (Azure's WireServer), and
    /// the usual ones, named for clearer refusals (169.254.169.254 AWS/GCP/Azure/OpenStack, 100.100.100.200
    /// Alibaba, 192.0.0.192 Oracle).
    static let metadataV4: Set<UInt32> = [
        0xA9FE_A9FE, // 169.254.169.254
        0xA83F_8110, // 168.63.129.16
        0x6464_64C8, // 100.100.100.200
        0xC000_00C0, // 192.0.0.192
    ]

    /// AWS's IPv6 metadata endpoint, fd00:ec2::254.
    static let metadataV6: Set<[UInt8]> = [[0xFD, 0, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54]]

    struct V4Block {
        var network: UInt32
        var mask: UInt32
        var reason: String

        init(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ bits: UInt32, _ reason: String) {
            mask = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            network = (a << 24 | b << 16 | c << 8 | d) & mask
            self.reason = reason
        }
    }

    /// IANA IPv4 Special-Purpose Address Registry, plus multicast (224.0.0.0/4).
    static let v4Blocks: [V4Block] = [
        V4Block(0, 0, 0, 0, 8, "\"this network\" address (0.0.0.0/8)"),
        V4Block(10, 0, 0, 0, 8, "private address (10.0.0.0/8)"),
        V4Block(100, 64, 0, 0, 10, "shared address space (100.64.0.0/10)"),
        V4Block(127, 0, 0, 0, 8, "loopback address (127.0.0.0/8)"),
        V4Block(169, 254, 0, 0, 16, "link-local address (169.254.0.0/16)"),
        V4Block(172, 16, 0, 0, 12, "private address (172.16.0.0/12)"),
        V4Block(192, 0, 0, 0, 24, "IETF protocol assignment (192.0.0.0/24)"),
        V4Block(192, 0, 2, 0, 24, "documentation address (TEST-NET-1, 192.0.2.0/24)"),
        V4Block(192, 31, 196, 0, 24, "AS112 address (192.31.196.0/24)"),
        V4Block(192, 52, 193, 0, 24, "AMT address (192.52.193.0/24)"),
        V4Block(192, 88, 99, 0, 24, "6to4 relay anycast address (192.88.99.0/24)"),
        V4Block(192, 168, 0, 0, 16, "private address (192.168.0.0/16)"),
        V4Block(192, 175, 48, 0, 24, "AS112 direct delegation address (192.175.48.0/24)"),
        V4Block(198, 18, 0, 0, 15, "benchmarking address (198.18.0.0/15)"),
        V4Block(198, 51, 100, 0, 24, "documentation address (TEST-NET-2, 198.51.100.0/24)"),
        V4Block(203, 0, 113, 0, 24, "documentation address (TEST-NET-3, 203.0.113.0/24)"),
        V4Block(224, 0, 0, 0, 4, "multicast address (224.0.0.0/4)"),
        V4Block(240, 0, 0, 0, 4, "reserved or broadcast address (240.0.0.0/4)"),
    ]

    struct V6Block {
        var prefix: [UInt8]
        var bits: Int
        var reason: String
    }

    /// IANA IPv6 Special-Purpose Address Registry, plus the deprecated and multicast blocks.
    static let v6Blocks: [V6Block] = [
        V6Block(prefix: [UInt8](repeating: 0, count: 16), bits: 128, reason: "unspecified address (::)"),
        V6Block(prefix: [UInt8](repeating: 0, count: 15) + [1], bits: 128, reason: "loopback address (::1)"),
        V6Block(prefix: [UInt8](repeating: 0, count: 12), bits: 96, reason: "IPv4-compatible address (::/96, deprecated)"),
        V6Block(prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0], bits: 96, reason: "IPv4-translated address (::ffff:0:0:0/96)"),
        V6Block(prefix: [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0], bits: 96, reason: "NAT64 address (64:ff9b::/96)"),
        V6Block(prefix: [0, 0x64, 0xFF, 0x9B, 0, 1], bits: 48, reason: "local-use NAT64 address (64:ff9b:1::/48)"),
        V6Block(prefix: [1, 0, 0, 0, 0, 0, 0, 0], bits: 64, reason: "discard-only address (100::/64)"),
        V6Block(prefix: [0x20, 0x01, 0x0D, 0xB8], bits: 32, reason: "documentation address (2001:db8::/32)"),
        V6Block(prefix: [0x20, 0x01, 0, 0], bits: 23, reason: "IETF protocol assignment (2001::/23: Teredo, benchmarking, ORCHID…)"),
        V6Block(prefix: [0x20, 0x02], bits: 16, reason: "6to4 address (2002::/16)"),
        V6Block(prefix: [0x26, 0x20, 0, 0x4F, 0x80, 0], bits: 48, reason: "AS112 address (2620:4f:8000::/48)"),
        V6Block(prefix: [0x3F, 0xFF], bits: 20, reason: "documentation address (3fff::/20)"),
        V6Block(prefix: [0x5F, 0x00], bits: 16, reason: "segment routing SID (5f00::/16)"),
        V6Block(prefix: [0xFC], bits: 7, reason: "unique local address (fc00::/7)"),
        V6Block(prefix: [0xFE, 0x80], bits: 10, reason: "link-local address (fe80::/10)"),
        V6Block(prefix: [0xFE, 0xC0], bits: 10, reason: "site-local address (fec0::/10, deprecated)"),
        V6Block(prefix: [0xFF], bits: 8, reason: "multicast address (ff00::/8)"),
    ]

    static func matches(_ bytes: [UInt8], _ prefix: [UInt8], bits: Int) -> Bool {
        var remaining = bits
        var index = 0
        while remaining > 0 {
            let byte = index < prefix.count ? prefix[index] : 0
            let take = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if bytes[index] & mask != byte & mask { return false }
            remaining -= take
            index += 1
        }
        return true
    }

    // MARK: This host

    /// Every address of this host's interfaces (`getifaddrs`), loopback included.
    ///
    /// Read on every check rather than cached: interfaces come and go (containers, VPNs), the call costs
    /// microseconds, and a stale list would let a new address through.
    package static func localAddresses() -> Set<IPAddress> {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(first) }
        var found: Set<IPAddress> = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let address = entry.pointee.ifa_addr, let ip = ipAddress(address) { found.insert(ip) }
            cursor = entry.pointee.ifa_next
        }
        return found
    }

    /// The IP address in a socket address, for IPv4 and IPv6 families.
    static func ipAddress(_ socketAddress: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        switch Int32(socketAddress.pointee.sa_family) {
        case AF_INET:
            var address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            return withUnsafeBytes(of: &address) { .v4($0[0], $0[1], $0[2], $0[3]) }
        case AF_INET6:
            var address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            return .v6(withUnsafeBytes(of: &address) { Array($0) })
        default:
            return nil
        }
    }
}
