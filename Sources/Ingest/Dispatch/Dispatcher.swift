import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import Wire

/// Settings of the outbox dispatcher.
package struct DispatchSettings: Sendable {
    package var maxAttempts: Int
    package var initialBackoff: Duration
    package var maximumBackoff: Duration
    /// Events worked on at once (each for a different lead).
    package var concurrency: Int
    package var pollInterval: Duration
    package var callTimeout: Duration

    package init(maxAttempts: Int = 12, initialBackoff: Duration = .milliseconds(500), maximumBackoff: Duration = .seconds(300),
                 concurrency: Int = 16, pollInterval: Duration = .milliseconds(250), callTimeout: Duration = .seconds(10)) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.callTimeout = callTimeout
    }
}

/// The durable outbox: carries each stored event to rules-service (`Evaluate`), the decision's actions
/// and timers to sequence-service (`Schedule`), and the event itself to sequence-service (`OnEvent`).
/// Events of one lead go in order; other leads are not held up. Every attempt is recorded; failures
/// retry with capped exponential backoff and jitter until the attempts run out.
package final class Dispatcher: Service, Sendable {
    private let store: IngestStore
    private let rules: RulesClient
    private let sequences: SequencesClient
    private let settings: DispatchSettings
    private let clock: any WallClock
    private let logger: Logger
    package let nudge = Nudge()
    private let busy = Mutex<Set<String>>([])
    private let stopping = Atomic<Bool>(false)
    package let counters = DispatchCounters()

    package init(store: IngestStore, rules: RulesClient, sequences: SequencesClient, settings: DispatchSettings,
                 clock: any WallClock, logger: Logger) {
        self.store = store
        self.rules = rules
        self.sequences = sequences
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    package func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    let inFlight = busy.withLock { $0.count }
                    let capacity = settings.concurrency - inFlight
                    // Refill in batches: one search for due events per quarter of the slots freed.
                    if capacity > 0 && (inFlight == 0 || capacity >= max(1, settings.concurrency / 4)) {
                        let keys = busy.withLock { $0 }
                        let due: [(key: String, event: DueEvent)]
                        do {
                            due = try await store.dueEvents(now: clock.now().unixMicros, limit: capacity, excludingKeys: keys)
                        } catch {
                            logger.error("dispatch.query_failed", metadata: ["error": "\(error)"])
                            due = []
                        }
                        for item in due {
                            busy.withLock { _ = $0.insert(item.key) }
                            group.addTask {
                                await self.advance(item.event)
                                self.busy.withLock { _ = $0.remove(item.key) }
                                self.nudge.signal()
                            }
                        }
                    }
                    await nudge.wait(timeout: settings.pollInterval)
                }
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.nudge.signal()
        }
    }

    /// Takes one event as far along its journey as the destinations allow.
    package func advance(_ due: DueEvent) async {
        var decision = due.decision
        let event = PB.Event(due.event)
        let options = CallOptions(timeout: settings.callTimeout, traceID: event.id, tenantID: event.tenantId)
        for destination in Destination.allCases where due.pending.contains(destination) {
            if destination == .schedule, let current = decision, current.actions.isEmpty && current.timers.isEmpty { continue }
            let at = clock.now().unixMicros
            let started = ContinuousClock.now
            do {
                switch destination {
                case .evaluate:
                    var request = PB.EvaluateRequest()
                    request.event = event
                    let answer = try await rules.evaluate(request, options: options)
                    decision = answer
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: micros(ContinuousClock.now - started), code: 0, error: "", decision: answer)
                case .schedule:
                    var request = PB.ScheduleRequest()
                    request.eventId = event.id
                    request.actions = decision?.actions ?? []
                    request.timers = decision?.timers ?? []
                    _ = try await sequences.schedule(request, options: options)
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: micros(ContinuousClock.now - started), code: 0, error: "")
                case .onEvent:
                    var request = PB.OnEventRequest()
                    request.event = event
                    _ = try await sequences.onEvent(request, options: options)
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: micros(ContinuousClock.now - started), code: 0, error: "")
                }
                counters.delivered(destination)
            } catch {
                let rpc = error as? RPCError ?? RPCError(.internal, "\(error)")
                counters.failed(destination)
                let attempts = due.attempts + 1
                let delay = backoff(attempts: attempts)
                do {
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: micros(ContinuousClock.now - started),
                                                  code: rpc.code.rawValue, error: "\(rpc.code): \(rpc.message)")
                    let retrying = try await store.retryLater(seq: due.seq, attempts: attempts, nextAt: clock.now().unixMicros + micros(delay),
                                                              maxAttempts: settings.maxAttempts)
                    logger.log(level: retrying ? .info : .warning, retrying ? "dispatch.retry" : "dispatch.failed", metadata: [
                        "event.id": "\(event.id)", "tenant.id": "\(event.tenantId)", "destination": "\(destination.rawValue)",
                        "attempt": "\(attempts)", "error": "\(rpc)",
                    ])
                } catch {
                    logger.error("dispatch.record_failed", metadata: ["event.id": "\(event.id)", "error": "\(error)"])
                }
                return
            }
        }
        do {
            try await store.markDelivered(seq: due.seq)
        } catch {
            logger.error("dispatch.record_failed", metadata: ["event.id": "\(event.id)", "error": "\(error)"])
        }
    }

    private func backoff(attempts: Int) -> Duration {
        var delay = settings.initialBackoff
        for _ in 1..<max(1, attempts) where delay < settings.maximumBackoff { delay *= 2 }
        return min(delay, settings.maximumBackoff) * Double.random(in: 0.8...1.2)
    }

    private func micros(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }
}

/// In-memory counters of dispatch outcomes, for metrics.
package final class DispatchCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func delivered(_ destination: Destination) { counts.withLock { $0["\(destination.rawValue)|ok", default: 0] += 1 } }
    func failed(_ destination: Destination) { counts.withLock { $0["\(destination.rawValue)|error", default: 0] += 1 } }
    package var snapshot: [String: Int] { counts.withLock { $0 } }
}
