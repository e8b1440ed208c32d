import Basics
import Foundation
import Logging
import NIOHTTP1
import Synchronization

// MARK: - Kinds and items

/// The Kommo endpoints that take many entities in one request.
package enum KommoBatchKind: Sendable, Hashable {
    /// `POST /api/v4/tasks` with an array of tasks.
    case tasks
    /// `POST /api/v4/{entity}/notes` with an array of notes, each naming its `entity_id`.
    case notes(entity: String)
    /// `PATCH /api/v4/leads` with an array of lead changes, each naming its `id`.
    case leadUpdates
    /// `GET /api/v4/leads?filter[id][]=…&with=contacts`: many leads in one read.
    case leadReads

    var method: HTTPMethod {
        switch self {
        case .tasks, .notes: .POST
        case .leadUpdates: .PATCH
        case .leadReads: .GET
        }
    }

    var path: String {
        switch self {
        case .tasks: "/api/v4/tasks"
        case .notes(let entity): "/api/v4/\(entity)/notes"
        case .leadUpdates, .leadReads: "/api/v4/leads"
        }
    }

    /// The member of `_embedded` that lists the answer's entities.
    var embedded: String {
        switch self {
        case .tasks: "tasks"
        case .notes: "notes"
        case .leadUpdates, .leadReads: "leads"
        }
    }

    var operation: String {
        switch self {
        case .tasks: "kommo.batch_tasks"
        case .notes: "kommo.batch_notes"
        case .leadUpdates: "kommo.batch_lead_updates"
        case .leadReads: "kommo.batch_lead_reads"
        }
    }
}

/// One entity of a batch: a write's array element (carrying its `request_id`), or a lead to read.
package struct KommoBatchItem: Sendable {
    /// The action's idempotency key, sent as the element's `request_id`; maps the answer back.
    package var requestID: String
    /// The array element sent (writes); `.null` for reads.
    package var element: JSONValue
    /// The lead it is about: the id of a lead update or read. A batch holds one update per lead.
    package var entityID: Int64?
    /// The action's own operation and summary for its log entry.
    package var operation: String
    package var summary: String

    package init(requestID: String, element: JSONValue, entityID: Int64?, operation: String, summary: String) {
        self.requestID = requestID
        self.element = element
        self.entityID = entityID
        self.operation = operation
        self.summary = summary
    }
}

/// How one item of a batch ended: its own result, and its entry in Kommo's answer (the created task,
/// the lead read) when there is one.
package struct KommoBatchOutcome: Sendable {
    package var result: ExecutionResult
    package var answer: JSONValue?
}

// MARK: - Batcher

/// Groups the Kommo writes (and lead reads) of one account into batch requests.
///
/// Callers submit one item and wait for its own outcome. Items of one account and kind collect while
/// they keep coming (until none joined for ``KommoBudgetSettings/collectWindow``, ``KommoBudgetSettings/maxBatch``
/// are waiting, or ``KommoBudgetSettings/maxCollect`` is up) and while the account's allowance has no room; then up to `maxBatch` of them go in one request inside
/// the account's 7 requests/s. The answer is mapped back per item by `request_id` (reads by lead id):
///
/// - a 2xx succeeds every item, each with its own created id;
/// - a 400 whose `validation-errors` name items fails only those; the others are sent again, at once,
///   in the next request (Kommo applies none of a refused batch);
/// - a 504 sends the same items again in halves, down to one at a time (a 504 for one item is retried
///   later by the scheduler); the batch size grows back after a success;
/// - a paused account, 429s beyond the retries, 5xx and the rest end every item as the request ended.
///
/// No task of its own: the caller whose item opens an idle queue sends batches until its own item is
/// answered, then hands the queue to the next waiting caller. So every request is sent by a running
/// action, under the scheduler's lease and after its attempt mark, which keeps exactly-once as for single
/// requests: a crash mid-batch leaves every item of it in doubt, and each is repeated under its own
/// `request_id`.
package final class KommoBatcher: Sendable {
    private struct Key: Hashable {
        var account: KommoConnection
        var kind: KommoBatchKind
    }

    private enum Signal {
        case done(KommoBatchOutcome)
        case lead
    }

    private struct Waiting {
        var id: UInt64
        var item: KommoBatchItem
    }

    private struct Queue {
        var pending: [Waiting] = []
        var waiters: [UInt64: CheckedContinuation<Signal, Never>] = [:]
        var results: [UInt64: KommoBatchOutcome] = [:]
        var flushing = false
        /// The caller handed the queue before it began to wait.
        var designated: UInt64?
        var size: Int
    }

    private struct State {
        var queues: [Key: Queue] = [:]
        var counter: UInt64 = 0
        var requests = 0
        var items = 0
    }

    private let settings: KommoBudgetSettings
    private let state = Mutex(State())

    init(settings: KommoBudgetSettings) {
        self.settings = settings
    }

    /// Batch requests sent and items they carried, since the process started.
    package var stats: (requests: Int, items: Int) { state.withLock { ($0.requests, $0.items) } }

    /// Sends `item` in a batch of its kind to `account` and returns its own outcome.
    func submit(_ item: KommoBatchItem, kind: KommoBatchKind, account: KommoConnection, client: KommoClient,
                logger: Logger) async -> KommoBatchOutcome {
        let key = Key(account: account, kind: kind)
        let maxBatch = settings.maxBatch
        let (id, leads): (UInt64, Bool) = state.withLock { state in
            state.counter += 1
            let id = state.counter
            var queue = state.queues[key] ?? Queue(size: maxBatch)
            queue.pending.append(Waiting(id: id, item: item))
            let leads = !queue.flushing
            queue.flushing = true
            state.queues[key] = queue
            return (id, leads)
        }
        if !leads {
            let signal = await withCheckedContinuation { (continuation: CheckedContinuation<Signal, Never>) in
                state.withLock { state in
                    if let outcome = state.queues[key]?.results.removeValue(forKey: id) {
                        continuation.resume(returning: .done(outcome))
                    } else if state.queues[key]?.designated == id {
                        state.queues[key]?.designated = nil
                        continuation.resume(returning: .lead)
                    } else {
                        state.queues[key]?.waiters[id] = continuation
                    }
                }
            }
            if case .done(let outcome) = signal { return outcome }
        }
        while true {
            await flush(key, client: client, logger: logger)
            let mine: KommoBatchOutcome? = state.withLock { state in
                guard var queue = state.queues[key], let outcome = queue.results.removeValue(forKey: id) else { return nil }
                // Answered: the next waiting caller sends the rest.
                if let next = queue.pending.first {
                    if let waiter = queue.waiters.removeValue(forKey: next.id) {
                        waiter.resume(returning: .lead)
                    } else {
                        queue.designated = next.id
                    }
                } else {
                    queue.flushing = false
                }
                state.queues[key] = queue.pending.isEmpty && queue.results.isEmpty && queue.waiters.isEmpty && !queue.flushing
                    && queue.size == maxBatch ? nil : queue
                return outcome
            }
            if let mine { return mine }
        }
    }

    /// Sends one batch of the queue and hands each of its items its outcome.
    private func flush(_ key: Key, client: KommoClient, logger: Logger) async {
        // Gather while items keep joining: until none joined for a collect window, the batch is full, or
        // the longest wait is up. (The sleep ends early only when the task is cancelled.)
        let started = ContinuousClock.now
        var seen = -1
        while true {
            let (count, size) = state.withLock { state in state.queues[key].map { ($0.pending.count, $0.size) } ?? (0, 1) }
            if count >= size || count == seen || ContinuousClock.now - started >= settings.maxCollect { break }
            seen = count
            do { try await Task.sleep(for: settings.collectWindow) } catch { break }
        }
        // While the allowance has no room, more items join this batch.
        await client.waitForRoom(key.account)
        let batch: [Waiting] = state.withLock { state in
            guard var queue = state.queues[key] else { return [] }
            var taken: [Waiting] = []
            var rest: [Waiting] = []
            var entities = Set<Int64>()
            for waiting in queue.pending {
                let entity = waiting.item.entityID
                switch key.kind {
                case .leadReads:
                    // One id read once serves every item that asked for it.
                    if let entity, entities.contains(entity) { taken.append(waiting); continue }
                    if entities.count < queue.size, let entity { entities.insert(entity); taken.append(waiting) } else { rest.append(waiting) }
                case .leadUpdates:
                    // Two changes of one lead in one request would race on Kommo's side: the second waits.
                    if taken.count < queue.size, let entity, !entities.contains(entity) {
                        entities.insert(entity)
                        taken.append(waiting)
                    } else {
                        rest.append(waiting)
                    }
                default:
                    if taken.count < queue.size { taken.append(waiting) } else { rest.append(waiting) }
                }
            }
            queue.pending = rest
            state.queues[key] = queue
            state.requests += taken.isEmpty ? 0 : 1
            state.items += taken.count
            return taken
        }
        guard !batch.isEmpty else { return }
        let (result, response) = await client.sendBatch(key.kind, batch.map(\.item), account: key.account, logger: logger)
        let verdict = Self.judge(result, response, kind: key.kind, batch: batch.map(\.item))
        state.withLock { state in
            guard var queue = state.queues[key] else { return }
            switch verdict {
            case .outcomes(let outcomes):
                if result.succeeded { queue.size = min(settings.maxBatch, queue.size * 2) }
                for (waiting, outcome) in zip(batch, outcomes) { Self.deliver(outcome, to: waiting.id, in: &queue) }
            case .resend(let failed, let halve):
                if halve { queue.size = max(1, batch.count / 2) }
                var again: [Waiting] = []
                for (index, waiting) in batch.enumerated() {
                    if let outcome = failed[index] { Self.deliver(outcome, to: waiting.id, in: &queue) } else { again.append(waiting) }
                }
                queue.pending.insert(contentsOf: again, at: 0)
            }
            state.queues[key] = queue
        }
    }

    private static func deliver(_ outcome: KommoBatchOutcome, to id: UInt64, in queue: inout Queue) {
        if let waiter = queue.waiters.removeValue(forKey: id) {
            waiter.resume(returning: .done(outcome))
        } else {
            queue.results[id] = outcome
        }
    }

    // MARK: - Mapping the answer

    enum Verdict {
        /// Every item ends with its outcome, in the batch's order.
        case outcomes([KommoBatchOutcome])
        /// The items at the keys end so; the others are sent again (`halve`: in smaller batches).
        case resend(failed: [Int: KommoBatchOutcome], halve: Bool)
    }

    /// What the answer to a batch means for each of its items.
    static func judge(_ result: ExecutionResult, _ response: OutboundResponse?, kind: KommoBatchKind,
                      batch: [KommoBatchItem]) -> Verdict {
        func own(_ item: KommoBatchItem, _ result: ExecutionResult) -> ExecutionResult {
            var own = result
            own.operation = item.operation
            own.requestSummary = item.summary + (batch.count > 1 ? " (one of \(batch.count) in the request)" : "")
            return own
        }
        if result.httpStatus == 504, result.outcome != .succeeded, result.outcome != .deferred {
            guard batch.count > 1 else {
                var retry = own(batch[0], result)
                retry.outcome = .failedRetryable
                retry.detail = "Kommo answered 504 (gateway timeout) for a single item; tried again later"
                return .outcomes([KommoBatchOutcome(result: retry, answer: nil)])
            }
            return .resend(failed: [:], halve: true)
        }
        if result.httpStatus == 400, let json = response?.json, let errors = json["validation-errors"]?.array, !errors.isEmpty {
            var failed: [Int: KommoBatchOutcome] = [:]
            for entry in errors {
                let named = entry["request_id"]?.string ?? entry["request_id"]?.int64.map(String.init) ?? ""
                // Kommo names an element by its request_id, or by its position when it carried none.
                let index = batch.firstIndex { $0.requestID == named } ?? Int(named).flatMap { batch.indices.contains($0) ? $0 : nil }
                guard let index else { continue }
                var refused = own(batch[index], result)
                refused.outcome = .failedPermanent
                var problem = ProblemDetails(json: json) ?? ProblemDetails()
                problem.validationErrors = (entry["errors"]?.array ?? []).map { error in
                    "\(error["path"]?.string ?? "?"): \(error["detail"]?.string ?? "invalid")\(error["code"]?.string.map { " (\($0))" } ?? "")"
                }
                refused.problem = problem
                refused.detail = "Kommo refused this item (400): " + problem.summary
                failed[index] = KommoBatchOutcome(result: refused, answer: nil)
            }
            if !failed.isEmpty, failed.count < batch.count { return .resend(failed: failed, halve: false) }
            if failed.isEmpty, batch.count > 1 { return .resend(failed: [:], halve: true) }
            if !failed.isEmpty { return .outcomes(batch.indices.map { failed[$0]! }) }
        }
        guard result.succeeded else {
            return .outcomes(batch.map { KommoBatchOutcome(result: own($0, result), answer: nil) })
        }
        let entries = response?.status == 204 ? [] : (response?.json?["_embedded"]?[kind.embedded]?.array ?? [])
        var byRequestID: [String: JSONValue] = [:]
        var byID: [Int64: JSONValue] = [:]
        for entry in entries {
            if let requestID = entry["request_id"]?.string { byRequestID[requestID] = entry }
            if let id = entry["id"]?.int64 { byID[id] = entry }
        }
        let positional = entries.count == batch.count && byRequestID.isEmpty
        return .outcomes(batch.enumerated().map { index, item in
            var mine = own(item, result)
            let answer: JSONValue?
            switch kind {
            case .leadReads:
                answer = item.entityID.flatMap { byID[$0] }
                if answer == nil { mine.detail = "no content: no such lead" }
            case .leadUpdates:
                answer = byRequestID[item.requestID] ?? item.entityID.flatMap { byID[$0] }
            case .tasks, .notes:
                answer = byRequestID[item.requestID] ?? (positional ? entries[index] : nil)
                if let id = answer?["id"]?.int64 { mine.createdIDs = [id] }
            }
            if answer == nil, kind != .leadReads {
                mine.detail = "Kommo accepted the request (\(result.httpStatus ?? 200)) without listing this item"
            }
            return KommoBatchOutcome(result: mine, answer: answer)
        })
    }
}
