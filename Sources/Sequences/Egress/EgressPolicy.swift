import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Operator settings

/// What the operator lets outbound requests reach. Only process settings build it (sequence-service's
/// `--egress-allow-private` / `EGRESS_ALLOW_PRIVATE` and `--egress-allowed-hosts` /
/// `EGRESS_ALLOWED_HOSTS`); nothing a tenant writes can widen it.
package struct EgressPolicy: Sendable, Hashable {
    /// Lets requests reach special-purpose, private, loopback and this host's own addresses (on-premises
    /// receivers, tests against loopback emulators). Off in production.
    package var allowPrivateTargets: Bool
    /// Hosts (lower case, no port) that may stand as Kommo and Chats API base URLs besides Kommo's and
    /// amoCRM's own domains, over http or https: a Kommo emulator in tests, a corporate proxy. The address
    /// check still applies to them unless ``allowPrivateTargets`` is set.
    package var allowedHosts: Set<String>

    /// Creates a policy; the defaults are production's.
    package init(allowPrivateTargets: Bool = false, allowedHosts: Set<String> = []) {
        self.allowPrivateTargets = allowPrivateTargets
        self.allowedHosts = Set(allowedHosts.map { Self.normalized(host: $0) })
    }

    /// What tests and benchmarks use: loopback emulators for everything.
    package static let loopbackTesting = EgressPolicy(allowPrivateTargets: true, allowedHosts: ["127.0.0.1", "localhost", "::1"])

    /// Parses a comma-separated host list (`EGRESS_ALLOWED_HOSTS`).
    package static func hosts(parsing list: String?) -> Set<String> {
        Set((list ?? "").split(separator: ",").map { normalized(host: String($0)) }.filter { !$0.isEmpty })
    }

    static func normalized(host: String) -> String {
        var text = host.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        while text.hasSuffix(".") { text.removeLast() }
        return text
    }

    // MARK: Base URLs

    /// The domains Kommo and amoCRM serve accounts and the Chats API (`amojo.kommo.com`,
    /// `amojo.amocrm.ru`) from; see KOMMO.md.
    package static let kommoDomains = ["kommo.com", "amocrm.ru", "amocrm.com"]

    /// Why `url` may not be a Kommo API or Chats API base URL, or `nil` when it may: https on a Kommo or
    /// amoCRM domain, or any http(s) URL on a host the operator allowed.
    package func kommoBaseURLProblem(_ url: String) -> String? {
        guard let components = URLComponents(string: url.trimmingCharacters(in: .whitespaces)),
              let scheme = components.scheme?.lowercased(), let rawHost = components.host, !rawHost.isEmpty
        else { return "must be an absolute https URL" }
        let host = Self.normalized(host: rawHost)
        if allowedHosts.contains(host), scheme == "https" || scheme == "http" { return nil }
        guard scheme == "https" else { return "must be an https URL" }
        guard Self.kommoDomains.contains(where: { host.hasSuffix(".\($0)") }) else {
            return "must be on Kommo's or amoCRM's own domains (*.kommo.com, *.amocrm.ru, *.amocrm.com)"
        }
        return nil
    }
}

// MARK: - Resolution

/// Turns a host name into addresses. The gate takes one so that tests can answer differently on each
/// lookup (DNS rebinding) without a DNS server.
package protocol EgressResolver: Sendable {
    /// Every address `host` resolves to; throws when it does not resolve.
    func resolve(host: String) async throws -> [IPAddress]
}

/// The system resolver (`getaddrinfo`, so `/etc/hosts` and the configured DNS servers apply).
package struct SystemResolver: EgressResolver {
    package init() {}

    /// The lookup is a blocking `getaddrinfo`, run on NIO's thread pool so it does not hold a thread of
    /// the cooperative pool.
    package func resolve(host: String) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive { try Self.lookUp(host) }
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
        guard status == 0, let first = list else { throw EgressError.unresolved(host: host, detail: "getaddrinfo \(status)") }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let socketAddress = entry.pointee.ai_addr, let address = SpecialAddresses.ipAddress(socketAddress),
               !addresses.contains(address) {
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}

// MARK: - Errors

/// Why the gate sent nothing, or why a sent request failed.
package enum EgressError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The target may never be called; nothing was sent. Not worth retrying.
    case refused(String)
    /// The host did not resolve; nothing was sent. May succeed later.
    case unresolved(host: String, detail: String)
    /// No complete answer within the request's time bound.
    case timedOut(address: String)
    /// The connection to the checked address failed.
    case transport(address: String, detail: String)

    /// A short, secret-free message.
    package var description: String {
        switch self {
        case .refused(let reason): reason
        case let .unresolved(host, detail): "could not resolve \(host) (\(detail))"
        case .timedOut: "timed out"
        case let .transport(address, detail): "transport error to \(address): \(detail)"
        }
    }
}
