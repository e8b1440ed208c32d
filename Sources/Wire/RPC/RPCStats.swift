import Basics
import Synchronization

/// Calls by method and status code, with their total and largest duration: what `/metrics` shows of
/// the RPC layer. A server counts the calls it served; a client the calls it made.
package final class RPCStats: Sendable {
    /// The figures of one method and status code.
    package struct Entry: Sendable, Hashable {
        package var method: String
        package var code: StatusCode
        package var calls: Int
        package var totalSeconds: Double
        package var maximumSeconds: Double
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lost = Mutex<[String: Int]>([:])

    package init() {}

    /// Counts one call of `method` that ended with `code` after `duration`.
    package func record(method: String, code: StatusCode, duration: Duration) {
        let seconds = duration.fractionalSeconds
        let key = "\(method)|\(code.rawValue)"
        entries.withLock { entries in
            var entry = entries[key] ?? Entry(method: method, code: code, calls: 0, totalSeconds: 0, maximumSeconds: 0)
            entry.calls += 1
            entry.totalSeconds += seconds
            entry.maximumSeconds = max(entry.maximumSeconds, seconds)
            entries[key] = entry
        }
    }

    /// Counts an answer of `method` that was computed but could not be written (the caller had hung
    /// up); on a client, an answer frame that could not be read.
    package func recordUndelivered(method: String) {
        lost.withLock { $0[method, default: 0] += 1 }
    }

    /// Undelivered answers by method, sorted by method.
    package var undelivered: [(method: String, count: Int)] {
        lost.withLock { $0.map { (method: $0.key, count: $0.value) } }.sorted { $0.method < $1.method }
    }

    /// Every method and code seen so far, sorted by method, then code.
    package var snapshot: [Entry] {
        entries.withLock { Array($0.values) }.sorted { ($0.method, $0.code.rawValue) < ($1.method, $1.code.rawValue) }
    }
}
