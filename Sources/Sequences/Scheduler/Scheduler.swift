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
    /// succeeded, failed, skipped — or retry (run again at `retryAt`).
    package var status: String
    package var operation: String
    package var target: String
    package var requestSummary: String
    package var httpStatus: Int?
    package var detail: String
    package var retryAfter: Duration?

    package init(status: String, operation: String, target: String = "", requestSummary: String = "", httpStatus: Int? = nil,
                 detail: String = "", retryAfter: Duration? = nil) {
        self.status = status
        self.operation = operation
        self.target = target
        self.requestSummary = requestSummary
        self.httpStatus = httpStatus
        self.detail = detail
        self.retryAfter = retryAfter
    }
}

/// Settings of the durable scheduler.
package struct SchedulerSettings: Sendable {
    package var batchSize: Int
    package var lease: Duration
    package var pollInterval: Duration
    package var concurrency: Int
    package var maxAttempts: Int

    package init(batchSize: Int = 64, lease: Duration = .seconds(120), pollInterval: Duration = .milliseconds(100),
                 concurrency: Int = 16, maxAttempts: Int = 8) {
        self.batchSize = batchSize
        self.lease = lease
        self.pollInterval = pollInterval
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
    }
}

/// The durable scheduler: claims due rows with a lease, runs them, and records the outcome. Timers go
/// back through ingest as `timer_fired` events. A crash leaves claimed rows whose lease expires, and they
/// are claimed again; nothing due lives only in memory.
///
/// Claimed rows start as soon as a lane is free rather than batch by batch: an action that waits (for its
/// Kommo account's allowance, a slow endpoint) holds up only its own lane, not the next claim.
package final class Scheduler: Service, Sendable {
    private let store: SequenceStore
    private let runner: any ActionRunner
    private let ingest: IngestClient
    private let settings: SchedulerSettings
    private let clock: any WallClock
    private let logger: Logger
    package let nudge = Nudge()
    private let stopping = Atomic<Bool>(false)
    /// Leads whose actions are running, each with the actions claimed for it meanwhile.
    private let lanes = Mutex<[String: [ScheduledAction]]>([:])

    package init(store: SequenceStore, runner: any ActionRunner, ingest: IngestClient, settings: SchedulerSettings,
                 clock: any WallClock, logger: Logger) {
        self.store = store
        self.runner = runner
        self.ingest = ingest
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    package func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                // Claimed rows not yet started: at most one batch, so memory does not depend on what is due.
                var ready: [ScheduledAction] = []
                var drained = false
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    if ready.isEmpty {
                        ready = (try? await claim()) ?? []
                        drained = ready.count < settings.batchSize
                    }
                    // Each lead has one lane, so its actions run in order; a lane starts while fewer than
                    // `concurrency` run, and an action of a lead whose lane is running joins that lane.
                    while let next = ready.first {
                        let key = Self.laneKey(next)
                        let start: Bool? = lanes.withLock { lanes in
                            if lanes[key] != nil {
                                lanes[key]!.append(next)
                                return false
                            }
                            guard lanes.count < settings.concurrency else { return nil }
                            lanes[key] = []
                            return true
                        }
                        guard let start else { break }
                        ready.removeFirst()
                        if start { group.addTask { await self.runLane(key, first: next) } }
                    }
                    // Rows waiting for a lane, or nothing more due: wait for a lane to end, new work, or the poll.
                    if !ready.isEmpty || drained { await nudge.wait(timeout: settings.pollInterval) }
                }
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.nudge.signal()
        }
    }

    /// Claims one batch of due work and runs it to the end; returns how many rows it claimed. For
    /// callers that step time themselves (tests with a manual clock); `run()` does not wait for batches.
    @discardableResult
    package func runOnce() async throws -> Int {
        let due = try await claim()
        guard !due.isEmpty else { return 0 }
        let byLead = Dictionary(grouping: due, by: Self.laneKey)
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for (_, actions) in byLead {
                if running >= settings.concurrency { await group.next(); running -= 1 }
                running += 1
                group.addTask {
                    for action in actions.sorted(by: { $0.dueAt < $1.dueAt || ($0.dueAt == $1.dueAt && $0.id < $1.id) }) {
                        await self.execute(action)
                    }
                }
            }
        }
        return due.count
    }

    /// Claims due rows, oldest due first.
    private func claim() async throws -> [ScheduledAction] {
        try await store.claimDue(now: clock.now().unixMicros, lease: micros(settings.lease), limit: settings.batchSize)
    }

    /// Runs a lead's actions one after another until its lane is empty, then frees the lane.
    private func runLane(_ key: String, first: ScheduledAction) async {
        var next: ScheduledAction? = first
        while let action = next {
            await execute(action)
            next = lanes.withLock { lanes in
                guard let queued = lanes[key], !queued.isEmpty else {
                    lanes.removeValue(forKey: key)
                    return nil
                }
                return lanes[key]!.removeFirst()
            }
        }
        nudge.signal()
    }

    /// The lane of a row: its lead, or the row itself when it has none.
    private static func laneKey(_ action: ScheduledAction) -> String {
        "\(action.tenantID):\(action.leadID.map(String.init) ?? "row-\(action.id)")"
    }

    private func execute(_ action: ScheduledAction) async {
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
                let backoff = result.retryAfter ?? .seconds(min(300, 1 << min(action.attempts, 8)))
                retryAt = now + micros(backoff)
            } else {
                status = "failed"
            }
        }
        let elapsed = ContinuousClock.now - started
        let log = ActionLogEntry(
            actionID: action.id, tenantID: action.tenantID, leadID: action.leadID, at: now, actionType: action.actionType,
            operation: result.operation, target: result.target, requestSummary: result.requestSummary, httpStatus: result.httpStatus,
            latencyMillis: Double(micros(elapsed)) / 1000, outcome: retryAt != nil ? "retry" : status,
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

    /// Heads the logged detail of an attempt that repeats one interrupted after its side effect began.
    package static let inDoubtRemark = "repeated under the same key: an earlier attempt was interrupted after it started"

    /// A timer came due: the lead is looked at again through ingest, as an internal event.
    private func fireTimer(_ action: ScheduledAction) async -> ActionRunResult {
        var event = PB.Event()
        event.id = "ev_timer_" + String(action.idempotencyKey.utf8.reduce(into: UInt64(14_695_981_039_346_656_037)) { $0 = ($0 ^ UInt64($1)) &* 1_099_511_628_211 }, radix: 16)
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

    private func micros(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }
}
