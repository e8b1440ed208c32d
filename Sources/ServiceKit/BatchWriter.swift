import GRDB
import Synchronization

/// Group commit: concurrent writers share transactions. The first writer to find the queue idle starts
/// a drain that commits everything queued so far in one transaction (each job in its own savepoint, so
/// one failing job rolls back only itself), then keeps committing what queued up meanwhile until the
/// queue is empty. Every caller returns as soon as the transaction holding its job committed. With `synchronous=FULL` this turns
/// one fsync per request into one fsync per batch.
package final class BatchWriter: Sendable {
    private struct Job: Sendable {
        /// Runs the work in a savepoint; returns how to resolve the caller once committed.
        let run: @Sendable (Database) -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var queue: [Job] = []
        var writing = false
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let maximumBatch: Int

    package init(writer: any DatabaseWriter, maximumBatch: Int = 256) {
        self.writer = writer
        self.maximumBatch = maximumBatch
    }

    /// Runs `work` in a transaction shared with other concurrent writes; returns once it committed.
    package func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let ticket = Ticket<T>()
        let job = Job(
            run: { db in
                var result: Result<T, any Error>
                do {
                    var value: T?
                    try db.inSavepoint {
                        value = try work(db)
                        return .commit
                    }
                    result = .success(value!)
                } catch {
                    result = .failure(error)
                }
                let outcome = result
                return { ticket.resolve(outcome) }
            },
            fail: { error in ticket.resolve(.failure(error)) })
        let lead = state.withLock { state -> Bool in
            state.queue.append(job)
            if state.writing { return false }
            state.writing = true
            return true
        }
        // The first writer to find the queue idle starts a drain that runs until the queue is empty;
        // it runs on its own, so no caller waits for other callers' batches.
        if lead { Task { await self.drain() } }
        return try await ticket.value()
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Job] in
                let count = min(state.queue.count, maximumBatch)
                let batch = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                if batch.isEmpty { state.writing = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                let resolutions = try await writer.write { db in batch.map { $0.run(db) } }
                for resolve in resolutions { resolve() }
            } catch {
                for job in batch { job.fail(error) }
            }
        }
    }
}

/// A result that one task sets and another awaits.
private final class Ticket<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, any Error>?, waiter: CheckedContinuation<T, any Error>?)>((nil, nil))

    func resolve(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
