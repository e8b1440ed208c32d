import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The one way out of the system: every outbound request — Kommo API and OAuth token renewal, the Chats
/// API, the AI provider, outgoing webhooks, "test connection" — is sent through a gate.
///
/// For each request the gate:
/// 1. takes the URL's host as the HTTP client will (http and https only);
/// 2. resolves it itself (``EgressResolver``, `getaddrinfo` by default) and checks **every** answer
///    against ``SpecialAddresses`` and this host's own interface addresses, unless the operator's
///    ``EgressPolicy/allowPrivateTargets`` is set;
/// 3. connects to the first checked address, keeping the original host for TLS (SNI and certificate
///    verification) and the `Host` header;
/// 4. follows no redirects (a 3xx is the answer), reads at most `maxResponseBytes` of the body and gives
///    up when the whole exchange — lookup, connect, TLS, request, body — exceeds `timeout`.
///
/// How step 3 dials the checked address: AsyncHTTPClient 1.37 has no resolver hook (its `dnsResolver`
/// picks between the system resolver and a shuffled one), so the gate uses the client's `dnsOverride`,
/// which maps the URL's host to the text of the checked address. The client then connects to that
/// literal, and a literal is never looked up again, so a DNS answer that changes between the check and the
/// connection (rebinding with a zero TTL) cannot change where the request goes; the client still sends
/// the original host as SNI, verifies the certificate for it and writes it in `Host`. Rewriting the URL
/// to the address instead would verify the certificate against the IP. Because `dnsOverride` is a
/// setting of a whole client, each request gets a client of its own, shut down when the answer is read:
/// no connection is reused, which costs a handshake per request; Kommo's 7 requests per second per account
/// make that cheap, and a reused connection would have to be tied to the address it was checked for.
package struct EgressGate: Sendable {
    /// The operator's settings.
    package let policy: EgressPolicy
    private let resolver: any EgressResolver
    private let tlsConfiguration: TLSConfiguration?
    private let localAddresses: @Sendable () -> Set<IPAddress>

    /// A gate under `policy`. `resolver` replaces the system's and `localAddresses` this host's interface
    /// list (tests); `tlsConfiguration` replaces the client default (system trust roots, full
    /// verification).
    package init(policy: EgressPolicy = EgressPolicy(), resolver: any EgressResolver = SystemResolver(),
                 tlsConfiguration: TLSConfiguration? = nil,
                 localAddresses: @escaping @Sendable () -> Set<IPAddress> = SpecialAddresses.localAddresses) {
        self.policy = policy
        self.resolver = resolver
        self.tlsConfiguration = tlsConfiguration
        self.localAddresses = localAddresses
    }

    // MARK: - Checking a target

    /// A URL the gate may call, and where it will connect.
    package struct Target: Sendable, Hashable {
        /// The host as written in the URL (brackets removed), used for SNI, the certificate and `Host`.
        package var host: String
        /// The checked address the connection goes to.
        package var address: IPAddress
    }

    /// Checks `url` without calling it: scheme, host, and every address the host resolves to.
    ///
    /// - Throws: ``EgressError/refused(_:)`` or ``EgressError/unresolved(host:detail:)``.
    package func target(for url: String) async throws -> Target {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
              var host = parsed.host, !host.isEmpty
        else { throw EgressError.refused("not an http(s) URL") }
        // AsyncHTTPClient strips the brackets of an IPv6 literal before it looks at the host; so do we, so
        // that the override below is keyed exactly as the client looks it up.
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            addresses = try await resolver.resolve(host: host)
        }
        guard let first = addresses.first else { throw EgressError.unresolved(host: host, detail: "no addresses") }
        if !policy.allowPrivateTargets {
            let own = localAddresses()
            for address in addresses {
                let reason = SpecialAddresses.refusal(for: address) ?? (own.contains(address) ? "an address of this host" : nil)
                if let reason {
                    let subject = IPAddress(host) == nil ? "target \(host) resolves to \(address)" : "target \(address)"
                    throw EgressError.refused("\(subject): \(reason); private targets are not allowed")
                }
            }
        }
        return Target(host: host, address: first)
    }

    // MARK: - Sending

    /// Sends `request` to the checked address of its host and reads the answer.
    ///
    /// - Throws: ``EgressError`` (refused or unresolved: nothing was sent; timed out; transport), or
    ///   `CancellationError`.
    package func send(_ request: OutboundRequest, timeout: Duration, maxResponseBytes: Int, logger: Logger) async throws -> OutboundResponse {
        let deadline = ContinuousClock.now + timeout
        let target = try await target(for: request.url)
        let address = target.address.urlHost
        var configuration = HTTPClient.Configuration()
        if let tlsConfiguration { configuration.tlsConfiguration = tlsConfiguration }
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.proxy = nil
        configuration.timeout.connect = TimeAmount(min(timeout, .seconds(10)))
        // One client per request, so a failed connection is reported at once with its cause (a refused
        // certificate, say) instead of being retried until the deadline; retrying is the caller's policy.
        configuration.connectionPool.retryConnectionEstablishment = false
        if IPAddress(target.host) == nil { configuration.dnsOverride = [target.host: target.address.description] }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var http = HTTPClientRequest(url: request.url)
        http.method = request.method
        http.headers = request.headers
        if let body = request.body { http.body = .bytes(ByteBuffer(bytes: body)) }
        let nioDeadline = NIODeadline.now() + TimeAmount(deadline - .now)
        let prepared = http
        do {
            // The race with a timer bounds the body as well as the head, whatever the client's deadline
            // covers: a server dribbling one byte a second ends at the bound like one that never answers.
            let response = try await withThrowingTaskGroup(of: OutboundResponse?.self) { group in
                group.addTask {
                    try await Self.exchange(prepared, client: client, deadline: nioDeadline, limit: maxResponseBytes, logger: logger)
                }
                group.addTask {
                    // A little after the client's own deadline, so that its error (naming the cause: a
                    // refused certificate, a refused connection) wins when it has one.
                    try await Task.sleep(until: deadline + .milliseconds(250), clock: .continuous)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else {
                    throw EgressError.timedOut(address: address)
                }
                return response
            }
            try? await client.shutdown()
            return response
        } catch {
            try? await client.shutdown()
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            if let error = error as? EgressError { throw error }
            if let error = error as? HTTPClientError {
                switch error {
                case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: throw EgressError.timedOut(address: address)
                default: break
                }
            }
            throw EgressError.transport(address: address, detail: String(String(describing: error).prefix(200)))
        }
    }

    private static func exchange(_ request: HTTPClientRequest, client: HTTPClient, deadline: NIODeadline, limit: Int,
                                 logger: Logger) async throws -> OutboundResponse {
        let response = try await client.execute(request, deadline: deadline, logger: logger)
        var collected: [UInt8] = []
        var truncated = false
        // Read by hand rather than with `collect(upTo:)`, which throws away what it read: an oversized
        // answer is recorded as such (and its head kept) instead of becoming an error with no data.
        for try await chunk in response.body {
            let room = limit - collected.count
            if chunk.readableBytes > room {
                collected.append(contentsOf: chunk.readableBytesView.prefix(room))
                truncated = true
                break
            }
            collected.append(contentsOf: chunk.readableBytesView)
        }
        return OutboundResponse(status: Int(response.status.code), headers: response.headers, body: collected, truncated: truncated)
    }
}
