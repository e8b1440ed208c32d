import Basics
import Foundation
import Logging
import ServiceKit
import Synchronization

/// How the process spends each Kommo account's request budget: batches, the lead cache, pauses.
package struct KommoBudgetSettings: Sendable, Hashable {
    /// Items of one kind per batch request (tasks, notes, lead updates, lead reads); Kommo takes up to
    /// 250 and recommends 50.
    package var maxBatch: Int
    /// How long a batch waits for more items after the latest one joined: a burst (40 webhooks, each
    /// causing a task) becomes one request, a lone action waits only this long.
    package var collectWindow: Duration
    /// The longest a batch waits for items while they keep coming.
    package var maxCollect: Duration
    /// A 403 within this long of a 429 from the same account is Kommo's block, and pauses the account.
    package var blockAfterRateLimit: Duration
    /// First wait before probing a paused account; doubles per probe that fails.
    package var probeInitial: Duration
    /// Longest wait between probes.
    package var probeMaximum: Duration
    /// Fraction of each probe wait that is random.
    package var probeJitter: Double
    /// How long a lead read from Kommo serves templates, unless a webhook about the lead arrives first.
    package var leadCacheTTL: Duration
    /// Leads cached per tenant; the least recently stored go first.
    package var leadCachePerTenant: Int

    package init(maxBatch: Int = 50, collectWindow: Duration = .milliseconds(250), maxCollect: Duration = .seconds(5),
                 blockAfterRateLimit: Duration = .seconds(3600),
                 probeInitial: Duration = .seconds(30), probeMaximum: Duration = .seconds(1800), probeJitter: Double = 0.2,
                 leadCacheTTL: Duration = .seconds(900), leadCachePerTenant: Int = 10_000) {
        self.maxBatch = min(max(1, maxBatch), 250)
        self.collectWindow = collectWindow
        self.maxCollect = max(maxCollect, collectWindow)
        self.blockAfterRateLimit = blockAfterRateLimit
        self.probeInitial = probeInitial
        self.probeMaximum = probeMaximum
        self.probeJitter = min(max(probeJitter, 0), 1)
        self.leadCacheTTL = leadCacheTTL
        self.leadCachePerTenant = max(1, leadCachePerTenant)
    }

    /// The wait before probe number `probes + 1`: `probeInitial · 2^probes`, capped, with jitter.
    func probeDelay(afterProbes probes: Int) -> Duration {
        RetryBackoff(initial: probeInitial, maximum: probeMaximum, multiplier: 2, jitter: probeJitter).delay(afterAttempt: probes + 1)
    }
}

/// What every Kommo client of the process shares to spend the accounts' budgets well: the batcher that
/// groups writes and reads of one account, the per-tenant lead cache, and the paused accounts.
package final class KommoBudget: Sendable {
    package let settings: KommoBudgetSettings
    package let batcher: KommoBatcher
    package let leads: KommoLeadCache
    package let pauses: KommoAccountPauses

    package init(settings: KommoBudgetSettings = KommoBudgetSettings(), store: SequenceStore? = nil, clock: any WallClock = SystemClock()) {
        self.settings = settings
        self.batcher = KommoBatcher(settings: settings)
        self.leads = KommoLeadCache(ttl: settings.leadCacheTTL, perTenant: settings.leadCachePerTenant)
        self.pauses = KommoAccountPauses(settings: settings, store: store, clock: clock)
    }
}

// MARK: - Lead cache

/// Leads read from Kommo, per tenant, for templates.
///
/// Staleness rule: a cached read serves until a webhook about the lead arrives (``invalidate(tenantID:leadID:)``,
/// called for every event sequence-service sees) or ``ttl`` passes, whichever is first. Kommo sends a
/// webhook for every change of a lead, so a cached read is stale only while such a webhook is on its way
/// (seconds), or when the account's webhooks are not subscribed — which the TTL bounds.
package final class KommoLeadCache: Sendable {
    private struct Entry {
        var lead: KommoLead
        var storedAt: ContinuousClock.Instant
        var order: UInt64
    }

    private struct State {
        var tenants: [String: [Int64: Entry]] = [:]
        /// Invalidations seen per lead, so a read that started before a webhook does not store what it read.
        var generations: [String: [Int64: UInt64]] = [:]
        var counter: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    private let ttl: Duration
    private let perTenant: Int
    private let state = Mutex(State())

    package init(ttl: Duration, perTenant: Int) {
        self.ttl = ttl
        self.perTenant = perTenant
    }

    /// The cached lead, when fresh.
    package func lead(tenantID: String, leadID: Int64) -> KommoLead? {
        state.withLock { state in
            guard let entry = state.tenants[tenantID]?[leadID], ContinuousClock.now - entry.storedAt < ttl else {
                state.misses += 1
                return nil
            }
            state.hits += 1
            return entry.lead
        }
    }

    /// How many times a webhook invalidated the lead: pass it to ``store(_:tenantID:ifGeneration:)``.
    package func generation(tenantID: String, leadID: Int64) -> UInt64 {
        state.withLock { $0.generations[tenantID]?[leadID] ?? 0 }
    }

    /// Keeps a lead just read from Kommo, unless a webhook about it arrived since the read began
    /// (`ifGeneration` is what ``generation(tenantID:leadID:)`` said then).
    package func store(_ lead: KommoLead, tenantID: String, ifGeneration generation: UInt64? = nil) {
        state.withLock { state in
            if let generation, (state.generations[tenantID]?[lead.id] ?? 0) != generation { return }
            state.counter += 1
            var leads = state.tenants[tenantID] ?? [:]
            leads[lead.id] = Entry(lead: lead, storedAt: .now, order: state.counter)
            if leads.count > perTenant {
                // Drop the oldest tenth at once, so the sort is paid rarely.
                let drop = max(1, perTenant / 10)
                for (id, _) in leads.sorted(by: { $0.value.order < $1.value.order }).prefix(drop) { leads[id] = nil }
            }
            state.tenants[tenantID] = leads
        }
    }

    /// Forgets the lead: a webhook said something about it changed.
    package func invalidate(tenantID: String, leadID: Int64) {
        state.withLock { state in
            _ = state.tenants[tenantID]?.removeValue(forKey: leadID)
            var generations = state.generations[tenantID] ?? [:]
            generations[leadID, default: 0] += 1
            // Bounded like the cache: old counters only matter for reads still in flight, which then
            // do not store what they read (the safe side: the next template reads again).
            if generations.count > perTenant * 2 { generations = [leadID: generations[leadID] ?? 1] }
            state.generations[tenantID] = generations
        }
    }

    /// Leads cached for the tenant.
    package func count(tenantID: String) -> Int { state.withLock { $0.tenants[tenantID]?.count ?? 0 } }

    /// Reads served from the cache and reads that missed it, since the process started.
    package var stats: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}

// MARK: - Paused accounts

/// Kommo accounts that refuse every call: after repeated 429s Kommo answers 403 to everything until the
/// block is lifted, and 402 when the account is unpaid. Such an account is paused as a whole — no call
/// goes out for it, its due actions are deferred (not failed) — until a probe
/// (``KommoAccountProbe``) finds it answering again.
package final class KommoAccountPauses: Sendable {
    private struct State {
        var paused: [String: KommoAccountPause] = [:]
        /// Tenants whose actions an account's pause deferred.
        var deferredTenants: [String: Set<String>] = [:]
        var lastRateLimited: [String: ContinuousClock.Instant] = [:]
        var loaded = false
    }

    package let settings: KommoBudgetSettings
    private let store: SequenceStore?
    private let clock: any WallClock
    private let state = Mutex(State())

    init(settings: KommoBudgetSettings, store: SequenceStore?, clock: any WallClock) {
        self.settings = settings
        self.store = store
        self.clock = clock
    }

    /// Reads the pauses a previous run left (once, at start).
    package func load() async throws {
        guard let store else { return }
        let stored = try await store.pauses()
        state.withLock { state in
            for pause in stored where state.paused[pause.accountKey] == nil {
                state.paused[pause.accountKey] = pause
                state.deferredTenants[pause.accountKey, default: []].insert(pause.tenantID)
            }
            state.loaded = true
        }
    }

    /// The account's pause, when it is paused.
    package func pause(for accountKey: String) -> KommoAccountPause? {
        state.withLock { $0.paused[accountKey] }
    }

    /// Every paused account.
    package var all: [KommoAccountPause] { state.withLock { Array($0.paused.values) } }

    /// The pause of the account a tenant's actions wait for, if any.
    package func pause(tenantID: String) -> KommoAccountPause? {
        state.withLock { state in
            state.paused.values.first { pause in pause.tenantID == tenantID || state.deferredTenants[pause.accountKey]?.contains(tenantID) == true }
        }
    }

    /// Notes that a tenant's action waits for the paused account.
    func deferred(tenantID: String, accountKey: String) {
        state.withLock { _ = $0.deferredTenants[accountKey, default: []].insert(tenantID) }
    }

    /// Notes a 429 from the account: a 403 soon after it is the block.
    func rateLimited(_ accountKey: String) {
        state.withLock { $0.lastRateLimited[accountKey] = .now }
    }

    /// Judges a refusal: 402, or 403 within ``KommoBudgetSettings/blockAfterRateLimit`` of a 429, pauses
    /// the account; returns the pause then.
    func refused(status: Int, accountKey: String, tenantID: String?, logger: Logger) async -> KommoAccountPause? {
        let now = clock.now().unixMicros
        let settings = settings
        let decided: (KommoAccountPause, Bool)? = state.withLock { state in
            let reason: String
            switch status {
            case 402:
                reason = "account unpaid: Kommo answered 402"
            case 403:
                guard let last = state.lastRateLimited[accountKey], ContinuousClock.now - last < settings.blockAfterRateLimit else { return nil }
                reason = "blocked by Kommo after repeated rate-limit answers (403 after 429)"
            default:
                return nil
            }
            if let existing = state.paused[accountKey] { return (existing, false) }
            let pause = KommoAccountPause(accountKey: accountKey, tenantID: tenantID ?? "", httpStatus: status, reason: reason,
                                          since: now, nextProbeAt: now + settings.probeDelay(afterProbes: 0).micros)
            state.paused[accountKey] = pause
            if let tenantID { state.deferredTenants[accountKey, default: []].insert(tenantID) }
            return (pause, true)
        }
        guard let (pause, isNew) = decided else { return nil }
        if isNew {
            logger.error("kommo.account_paused", metadata: ["kommo.account": "\(accountKey)", "http.status": "\(status)", "reason": "\(pause.reason)"])
            await persist(pause, logger: logger)
        }
        return pause
    }

    /// A probe failed: the next one waits longer.
    func probeFailed(_ accountKey: String, logger: Logger) async {
        let now = clock.now().unixMicros
        let settings = settings
        let updated: KommoAccountPause? = state.withLock { state in
            guard var pause = state.paused[accountKey] else { return nil }
            pause.probes += 1
            pause.nextProbeAt = now + settings.probeDelay(afterProbes: pause.probes).micros
            state.paused[accountKey] = pause
            return pause
        }
        if let updated { await persist(updated, logger: logger) }
    }

    /// The account answered: it is no longer paused. Returns the tenants whose actions it deferred.
    @discardableResult
    func resume(_ accountKey: String, logger: Logger) async -> [String] {
        let tenants: [String] = state.withLock { state in
            let tenants = state.deferredTenants.removeValue(forKey: accountKey) ?? []
            let pause = state.paused.removeValue(forKey: accountKey)
            state.lastRateLimited[accountKey] = nil
            return Array(tenants.union(pause.map { [$0.tenantID] } ?? [])).filter { !$0.isEmpty }.sorted()
        }
        logger.notice("kommo.account_resumed", metadata: ["kommo.account": "\(accountKey)", "tenants.count": "\(tenants.count)"])
        do {
            try await store?.deletePause(accountKey: accountKey)
        } catch {
            // The pause stays in the store: the next start probes once more and resumes it again.
            logger.error("kommo.account_resume_not_stored", metadata: ["kommo.account": "\(accountKey)", "error": "\(error)"])
        }
        return tenants
    }

    private func persist(_ pause: KommoAccountPause, logger: Logger) async {
        do {
            try await store?.savePause(pause)
        } catch {
            // Kept in memory; a restart before the next save would forget only the alert's history.
            logger.error("kommo.account_pause_not_stored", metadata: ["kommo.account": "\(pause.accountKey)", "error": "\(error)"])
        }
    }
}
