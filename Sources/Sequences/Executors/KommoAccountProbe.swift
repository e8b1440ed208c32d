import Basics
import Logging
import ServiceKit
import ServiceLifecycle

/// Asks each paused Kommo account, now and then, whether it answers again: one cheap request
/// (`GET /api/v4/account`) at growing intervals with jitter (``KommoBudgetSettings/probeInitial``,
/// doubling, capped at ``KommoBudgetSettings/probeMaximum``). A 2xx resumes the account and lets the
/// actions it deferred run at once.
package final class KommoAccountProbe: Service, Sendable {
    private let budget: KommoBudget
    private let clients: KommoClients
    private let integrations: Integrations
    private let store: SequenceStore
    private let nudge: Nudge
    private let clock: any WallClock
    private let tick: Duration
    private let logger: Logger

    package init(budget: KommoBudget, clients: KommoClients, integrations: Integrations, store: SequenceStore, nudge: Nudge,
                 clock: any WallClock, tick: Duration = .seconds(1), logger: Logger) {
        self.budget = budget
        self.clients = clients
        self.integrations = integrations
        self.store = store
        self.nudge = nudge
        self.clock = clock
        self.tick = tick
        self.logger = logger
    }

    package func run() async throws {
        do {
            try await budget.pauses.load()
        } catch {
            logger.error("kommo.account_pauses_unreadable", metadata: ["error": "\(error)"])
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.probeDue()
                do { try await Task.sleep(for: self.tick) } catch { return }
            }
        }
    }

    /// Probes every paused account whose next probe is due.
    package func probeDue() async {
        let now = clock.now().unixMicros
        for pause in budget.pauses.all.sorted(by: { $0.since < $1.since }) where pause.nextProbeAt <= now {
            await probe(pause)
        }
    }

    private func probe(_ pause: KommoAccountPause) async {
        var logger = logger
        logger[metadataKey: "kommo.account"] = "\(pause.accountKey)"
        let tenant: TenantIntegrations
        do {
            tenant = try await integrations.runtime(tenantID: pause.tenantID)
        } catch {
            logger.error("kommo.probe_integrations_unreadable", metadata: ["error": "\(error)"])
            await budget.pauses.probeFailed(pause.accountKey, logger: logger)
            return
        }
        guard let connection = tenant.kommo, connection.rateLimitKey == pause.accountKey else {
            // Disconnected, or connected to another account: nothing is left waiting on this one.
            await release(pause, logger: logger)
            return
        }
        let read = await clients.client(rate: tenant.kommoRatePerSecond).getAccount(account: connection, logger: logger, probe: true)
        if read.result.succeeded {
            await release(pause, logger: logger)
        } else {
            logger.notice("kommo.probe_refused", metadata: ["http.status": "\(read.result.httpStatus.map(String.init) ?? "none")"])
            await budget.pauses.probeFailed(pause.accountKey, logger: logger)
        }
    }

    private func release(_ pause: KommoAccountPause, logger: Logger) async {
        let tenants = await budget.pauses.resume(pause.accountKey, logger: logger)
        do {
            let released = try await store.releaseDeferred(tenantIDs: tenants, now: clock.now().unixMicros)
            logger.notice("kommo.deferred_released", metadata: ["actions.count": "\(released)"])
        } catch {
            // The rows still run at their deferred time.
            logger.error("kommo.deferred_release_failed", metadata: ["error": "\(error)"])
        }
        nudge.signal()
    }
}
