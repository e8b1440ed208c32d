import Synchronization

/// The process's Kommo clients, one per rate limit in use: each owns a limiter with that allowance per
/// account, and all of them renew refused OAuth tokens through one ``KommoTokenRenewal``.
package final class KommoClients: Sendable {
    private let egress: EgressGate
    private let retry: RetryPolicy
    private let renewal: KommoTokenRenewal
    private let clients = Mutex<[Int: KommoClient]>([:])
    /// Batches, the lead cache and paused accounts, shared by every client.
    package let budget: KommoBudget

    /// Clients sending through `egress`, retrying each call by `retry`.
    package init(egress: EgressGate, retry: RetryPolicy, renewal: KommoTokenRenewal, budget: KommoBudget = KommoBudget()) {
        self.egress = egress
        self.retry = retry
        self.renewal = renewal
        self.budget = budget
    }

    /// The client admitting `rate` requests per second to each account.
    package func client(rate: Int) -> KommoClient {
        clients.withLock { clients in
            if let client = clients[rate] { return client }
            let client = KommoClient(
                egress: egress,
                rateLimiter: KommoRateLimiter(configuration: .init(requestsPerWindow: rate, window: .seconds(1))),
                configuration: .init(retry: retry), renewer: renewal, budget: budget)
            clients[rate] = client
            return client
        }
    }
}
