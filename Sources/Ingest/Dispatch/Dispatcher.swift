import Basics
import Domain
import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import Wire

/// Settings of the outbox dispatcher.
package struct DispatchSettings: Sendable {
    package var maxAttempts: Int
    /// Wait before the next attempt after a failed one; up to a fifth of it is random.
    package var backoff: RetryBackoff
    /// Events worked on at once (each for a different lead).
    package var concurrency: Int
    package var pollInterval: Duration
    package var callTimeout: Duration

    package init(maxAttempts: Int = 12, initialBackoff: Duration = .milliseconds(500), maximumBackoff: Duration = .seconds(300),
                 concurrency: Int = 16, pollInterval: Duration = .milliseconds(250), callTimeout: Duration = .seconds(10)) {
        self.maxAttempts = maxAttempts
        self.backoff = RetryBackoff(initial: initialBackoff, maximum: maximumBackoff, jitter: 0.2)
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.callTimeout = callTimeout
    }
}

/// The durable outbox: carries each stored event to rules-service (`Evaluate`), the decision's actions
/// and timers to sequence-service (`Schedule`), and the event itself to sequence-service (`OnEvent`).
/// Events of one lead go in order; other leads are not held up, and tenants take turns, so one tenant's
/// backlog does not hold up another's. Every attempt is recorded; failures retry with capped exponential
/// backoff and jitter until the attempts run out.
package final class Dispatcher: Service, Sendable {
    private let store: IngestStore
    private let rules: RulesClient
    private let sequences: SequencesClient
    private let settings: DispatchSettings
    private let clock: any WallClock
    private let logger: Logger
    /// One lane per lead: an event waits for the one before it of the same lead.
    private let lanes: LaneRunner<(key: String, event: DueEvent)>
    package let counters = DispatchCounters()
    /// The tenant the last search for due events ended with; the next one starts after it.
    private let cursor = Mutex<String>("")

    package init(store: IngestStore, rules: RulesClient, sequences: SequencesClient, settings: DispatchSettings,
                 clock: any WallClock, logger: Logger) {
        self.store = store
        self.rules = rules
        self.sequences = sequences
        self.settings = settings
        self.clock = clock
        self.logger = logger
        // Refill in batches: one search for due events per quarter of the lanes freed.
        self.lanes = LaneRunner(settings: .init(concurrency: settings.concurrency, refillAt: max(1, settings.concurrency / 4),
                                                pollInterval: settings.pollInterval), key: \.key)
    }

    /// Signal it when new events are stored; the dispatcher then looks for due events at once.
    package var nudge: Nudge { lanes.nudge }

    package func run() async throws {
        await lanes.run { request in
            do {
                // A lead with an event in flight is left out: its next event waits for that one. Tenants
                // take turns, so one tenant's backlog does not hold up another's events.
                let batch = try await self.store.dueEvents(now: self.clock.now().unixMicros, limit: request.limit,
                                                           excludingKeys: request.busyKeys, after: self.cursor.withLock { $0 })
                self.cursor.withLock { $0 = batch.lastTenant }
                return batch.events
            } catch {
                self.logger.error("dispatch.query_failed", metadata: ["error": "\(error)"])
                return []
            }
        } work: { item in
            await self.advance(item.event)
        }
    }

    /// Takes one event as far along its journey as the destinations allow.
    package func advance(_ due: DueEvent) async {
        var decision = due.decision
        var event = PB.Event(due.event)
        let options = CallOptions(timeout: settings.callTimeout, traceID: event.id, tenantID: event.tenantId)
        for destination in Destination.allCases where due.pending.contains(destination) {
            if destination == .schedule, let current = decision, current.actions.isEmpty && current.timers.isEmpty { continue }
            let at = clock.now().unixMicros
            let started = ContinuousClock.now
            do {
                switch destination {
                case .evaluate:
                    if let heard = try await transcribe(due, options: options) { event = heard }
                    var request = PB.EvaluateRequest()
                    request.event = event
                    let answer = try await rules.evaluate(request, options: options)
                    decision = answer
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: (ContinuousClock.now - started).micros, code: 0, error: "", decision: answer)
                case .schedule:
                    var request = PB.ScheduleRequest()
                    request.eventId = event.id
                    request.actions = decision?.actions ?? []
                    request.timers = decision?.timers ?? []
                    _ = try await sequences.schedule(request, options: options)
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: (ContinuousClock.now - started).micros, code: 0, error: "")
                case .onEvent:
                    var request = PB.OnEventRequest()
                    request.event = event
                    _ = try await sequences.onEvent(request, options: options)
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: (ContinuousClock.now - started).micros, code: 0, error: "")
                }
                counters.delivered(destination)
            } catch {
                let rpc = error as? RPCError ?? RPCError(.internal, "\(error)")
                counters.failed(destination)
                let attempts = due.attempts + 1
                let delay = settings.backoff.delay(afterAttempt: attempts)
                do {
                    try await store.recordAttempt(seq: due.seq, destination: destination, at: at,
                                                  durationMicros: (ContinuousClock.now - started).micros,
                                                  code: rpc.code.rawValue, error: "\(rpc.code): \(rpc.message)")
                    let now = clock.now().unixMicros
                    let retrying = try await store.retryLater(seq: due.seq, attempts: attempts, nextAt: now + delay.micros,
                                                              maxAttempts: settings.maxAttempts, now: now)
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
}

extension Dispatcher {
    /// Attempts of an event after which its voice message goes on untranscribed rather than wait longer.
    static let transcriptionAttempts = 3

    /// A voice message's event with its transcript, stored before the rules see it, so conditions, the
    /// conversation and AI replies read the client's words; `nil` when there is nothing to transcribe (not
    /// a voice message, already transcribed, the tenant's provider does not transcribe) or after
    /// ``transcriptionAttempts`` failed attempts. A failure before that throws, and the event is retried.
    func transcribe(_ due: DueEvent, options: CallOptions) async throws -> PB.Event? {
        guard var message = due.event.event.message, message.transcript == nil, message.direction == "incoming",
              message.messageType == "voice" || message.attachmentType == "voice", !message.attachmentLink.isEmpty else { return nil }
        var request = PB.VoiceTranscriptionRequest()
        request.link = message.attachmentLink
        request.fileName = message.attachmentFileName
        request.eventId = due.event.event.id
        let answer: PB.VoiceTranscription
        do {
            answer = try await sequences.transcribeVoice(request, options: options)
        } catch where due.attempts + 1 < Self.transcriptionAttempts {
            throw error
        } catch {
            logger.warning("dispatch.voice_untranscribed", metadata: ["event.id": "\(request.eventId)", "error": "\(error)"])
            return nil
        }
        guard answer.skipped.isEmpty else { return nil }
        message.transcript = answer.text
        if TextFold.isBlank(message.text) { message.text = answer.text }
        var stored = due.event.event
        stored.message = message
        try await store.saveTranscript(seq: due.seq, event: stored)
        var updated = due.event
        updated.event = stored
        return PB.Event(updated)
    }
}

/// In-memory counters of dispatch outcomes, for metrics.
package final class DispatchCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func delivered(_ destination: Destination) { counts.withLock { $0["\(destination.rawValue)|ok", default: 0] += 1 } }
    func failed(_ destination: Destination) { counts.withLock { $0["\(destination.rawValue)|error", default: 0] += 1 } }
    package var snapshot: [String: Int] { counts.withLock { $0 } }
}
