import Basics
import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import Wire

/// Carries out one due action and says how it went.
package protocol ActionRunner: Sendable {
    func run(_ action: ScheduledAction, logger: Logger) async -> ActionRunResult
}

/// The result of one run of an action.
package struct ActionRunResult: Sendable {
    /// succeeded, failed, skipped — or retry (run again at `retryAt`), or held (paused for the lead: run
    /// again at `holdUntil`, or when resumed).
    package var status: String
    package var operation: String
    package var target: String
    package var requestSummary: String
    package var httpStatus: Int?
    package var detail: String
    package var retryAfter: Duration?
    /// For status `held`: when the row runs again (microseconds); `nil` to wait for a resume.
    package var holdUntil: Int64?

    package init(status: String, operation: String, target: String = "", requestSummary: String = "", httpStatus: Int? = nil,
                 detail: String = "", retryAfter: Duration? = nil, holdUntil: Int64? = nil) {
        self.status = status
        self.operation = operation
        self.target = target
        self.requestSummary = requestSummary
        self.httpStatus = httpStatus
        self.detail = detail
        self.retryAfter = retryAfter
        self.holdUntil = holdUntil
    }
}

/// Settings of the durable scheduler.
package struct SchedulerSettings: Sendable {
    package var batchSize: Int
    package var lease: Duration
    package var pollInterval: Duration
    package var concurrency: Int
    /// Most rows one tenant holds claimed at once, so another tenant's due action always finds a lane
    /// while one tenant's burst runs.
    package var tenantConcurrency: Int
    package var maxAttempts: Int
    /// Wait before running an action again that asked to be retried without saying when: 2 s, doubling,
    /// at most 5 min, up to a fifth of it random.
    package var retryBackoff: RetryBackoff

    /// `concurrency` is high because most running actions wait: for their Kommo account's next batch (up
    /// to 50 of them share one request), a slow endpoint, a rate limit.
    package init(batchSize: Int = 512, lease: Duration = .seconds(120), pollInterval: Duration = .milliseconds(100),
                 concurrency: Int = 512, tenantConcurrency: Int? = nil, maxAttempts: Int = 8,
                 retryBackoff: RetryBackoff = RetryBackoff(initial: .seconds(2), maximum: .seconds(300), jitter: 0.2)) {
        self.batchSize = batchSize
        self.lease = lease
        self.pollInterval = pollInterval
        self.concurrency = concurrency
        // Half the lanes by default: one tenant alone still fills several Kommo batches at once.
        self.tenantConcurrency = max(1, tenantConcurrency ?? concurrency / 2)
        self.maxAttempts = maxAttempts
        self.retryBackoff = retryBackoff
    }
}

/// The durable scheduler: claims due rows with a lease, runs them, and records the outcome. Timers go
/// back through ingest as `timer_fired` events. A crash leaves claimed rows whose lease expires, and they
/// are claimed again; nothing due lives only in memory.
///
/// Claimed rows start as soon as a lane is free rather than batch by batch: an action that waits (for its
/// Kommo account's allowance, a slow endpoint) holds up only its own lane, not the next claim.
///
/// Tenants share the lanes fairly: a claim takes due rows of every tenant in turn, and no tenant holds
/// more than `tenantConcurrency` rows claimed at once, so one tenant's burst of thousands of due actions
/// leaves lanes free for the others.
package final class Scheduler: Service, Sendable {
    private let store: SequenceStore
    private let runner: any ActionRunner
    private let ingest: IngestClient
    private let settings: SchedulerSettings
    private let clock: any WallClock
    private let logger: Logger
    /// One lane per lead, so a lead's actions run in order; a claimed action of a lead whose lane is
    /// running joins that lane.
    private let lanes: LaneRunner<ScheduledAction>
    /// Rows claimed and not yet finished, per tenant, and the tenant the last claim ended with.
    private let claimed = Mutex<(inFlight: [String: Int], cursor: String)>(([:], ""))

    package init(store: SequenceStore, runner: any ActionRunner, ingest: IngestClient, settings: SchedulerSettings,
                 clock: any WallClock, logger: Logger) {
        self.store = store
        self.runner = runner
        self.ingest = ingest
        self.settings = settings
        self.clock = clock
        self.logger = logger
        // Claims run whenever nothing claimed is left waiting, even with every lane busy: due rows of the
        // leads already running join their lanes at once.
        self.lanes = LaneRunner(settings: .init(concurrency: settings.concurrency, batchSize: settings.batchSize, refillAt: 0,
                                                pollInterval: settings.pollInterval), key: Self.laneKey)
    }

    /// Signal it when new work is scheduled; the scheduler then claims at once.
    package var nudge: Nudge { lanes.nudge }

    package func run() async throws {
        await lanes.run { _ in
            do {
                return try await self.claim()
            } catch {
                // The store is unavailable or failing: say so, and try again at the next poll.
                self.logger.error("scheduler.claim_failed", metadata: ["error": "\(error)"])
                return []
            }
        } work: { action in
            await self.execute(action)
        }
    }

    /// Claims one batch of due work and runs it to the end; returns how many rows it claimed. For
    /// callers that step time themselves (tests with a manual clock); `run()` does not wait for batches.
    @discardableResult
    package func runOnce() async throws -> Int {
        let due = try await claim()
        await lanes.drain(due.sorted { $0.dueAt < $1.dueAt || ($0.dueAt == $1.dueAt && $0.id < $1.id) }) { action in
            await self.execute(action)
        }
        return due.count
    }

    /// Claims due rows: tenants in turn, each one's oldest due first.
    private func claim() async throws -> [ScheduledAction] {
        let (inFlight, cursor) = claimed.withLock { ($0.inFlight, $0.cursor) }
        let claim = try await store.claimDue(now: clock.now().unixMicros, lease: settings.lease.micros, limit: settings.batchSize,
                                             tenantCap: settings.tenantConcurrency, inFlight: inFlight, after: cursor)
        claimed.withLock { state in
            for action in claim.actions { state.inFlight[action.tenantID, default: 0] += 1 }
            state.cursor = claim.lastTenant
        }
        return claim.actions
    }

    /// A claimed row is done with (finished, or left for its lease to expire): its tenant's slot is free.
    private func release(_ action: ScheduledAction) {
        claimed.withLock { state in
            let left = state.inFlight[action.tenantID, default: 1] - 1
            state.inFlight[action.tenantID] = left > 0 ? left : nil
        }
    }

    /// The lane of a row: its lead, or the row itself when it has none.
    private static func laneKey(_ action: ScheduledAction) -> String {
        "\(action.tenantID):\(action.leadID.map(String.init) ?? "row-\(action.id)")"
    }

    private func execute(_ action: ScheduledAction) async {
        defer { release(action) }
        let started = ContinuousClock.now
        let result: ActionRunResult
        if action.kind == "timer" {
            result = await fireTimer(action)
        } else if action.kind == "step", !((try? await store.stepIsCurrent(action)) ?? true) {
            // Paused, exited or moved on after this row was claimed: the step does not run. A resume
            // revives the row under the same key.
            result = ActionRunResult(status: "cancelled", operation: "sequence.step", detail: "the enrollment is no longer waiting on this step")
        } else {
            do {
                try await store.markStarted(action, now: clock.now().unixMicros)
            } catch {
                // Without the mark a crash during this attempt would not show it as in doubt; the run
                // waits for the store rather than act unrecorded.
                logger.error("scheduler.mark_started_failed", metadata: ["action.key": "\(action.idempotencyKey)", "error": "\(error)"])
                return
            }
            result = await runner.run(action, logger: logger)
        }
        let now = clock.now().unixMicros
        var retryAt: Int64?
        var status = result.status
        if status == "retry" {
            if action.attempts < settings.maxAttempts {
                let wait = result.retryAfter ?? settings.retryBackoff.delay(afterAttempt: action.attempts)
                retryAt = now + wait.micros
            } else {
                status = "failed"
            }
        } else if status == "held" {
            retryAt = result.holdUntil
        } else if status == "deferred" {
            // The Kommo account is paused: the row waits for the account, not counted as a failed try.
            retryAt = max(now + Self.minimumDeferral.micros, result.holdUntil ?? now + Self.defaultDeferral.micros)
        }
        let elapsed = ContinuousClock.now - started
        let log = ActionLogEntry(
            actionID: action.id, tenantID: action.tenantID, leadID: action.leadID, at: now, actionType: action.actionType,
            operation: result.operation, target: result.target, requestSummary: result.requestSummary, httpStatus: result.httpStatus,
            latencyMillis: Double(elapsed.micros) / 1000, outcome: status == "held" || status == "deferred" ? status : retryAt != nil ? "retry" : status,
            detail: action.inDoubt ? Self.inDoubtRemark + (result.detail.isEmpty ? "" : "; " + result.detail) : result.detail)
        do {
            if action.kind == "step" {
                // The enrollment moves on in the same transaction that records the step's outcome.
                try await store.finishStep(action, status: status, log: log, retryAt: retryAt, now: now)
            } else {
                try await store.finish(action, status: status, log: log, retryAt: retryAt, now: now)
            }
        } catch {
            logger.error("scheduler.finish_failed", metadata: ["action.key": "\(action.idempotencyKey)", "error": "\(error)"])
        }
    }

    /// Shortest and usual wait of a row deferred by a paused Kommo account (the account's resume releases
    /// such rows at once).
    static let minimumDeferral: Duration = .seconds(1)
    static let defaultDeferral: Duration = .seconds(60)

    /// Heads the logged detail of an attempt that repeats one interrupted after its side effect began.
    package static let inDoubtRemark = "repeated under the same key: an earlier attempt was interrupted after it started"

    /// A timer came due: the lead is looked at again through ingest, as an internal event.
    private func fireTimer(_ action: ScheduledAction) async -> ActionRunResult {
        var event = PB.Event()
        event.id = "ev_timer_" + String(StableHash64.value(of: action.idempotencyKey.utf8), radix: 16)
        event.tenantId = action.tenantID
        event.type = .timerFired
        event.entityType = "lead"
        event.entityId = String(action.leadID ?? 0)
        event.leadId = action.leadID ?? 0
        event.origin = .timer
        event.ruleId = action.ruleID
        event.occurredAtMicros = action.dueAt
        var request = PB.IngestRequest()
        request.events = [event]
        do {
            _ = try await ingest.ingest(request, options: CallOptions(timeout: .seconds(10), tenantID: action.tenantID))
            return ActionRunResult(status: "succeeded", operation: "timer", target: "ingest", requestSummary: "rule \(action.ruleID)")
        } catch {
            return ActionRunResult(status: "retry", operation: "timer", target: "ingest", detail: "\(error)")
        }
    }
}
