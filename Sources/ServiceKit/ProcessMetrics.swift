import Metrics
import Synchronization
import Wire

// MARK: - Where a service process's counters go

/// The swift-metrics backend of a service process: counters, gauges and timers kept in memory and
/// reported with the process's `Health` answer, which the gateway merges into its `/metrics`. A service
/// has no HTTP port of its own, so this is how what it counts (failed claims, dropped usage writes, …)
/// reaches the dashboard.
package final class ProcessMetrics: MetricsFactory, Sendable {
    private struct Key: Hashable {
        var label: String
        var dimensions: [String]
    }

    private let counters = Mutex<[Key: Counted]>([:])
    private let recorders = Mutex<[Key: Recorded]>([:])
    private let timers = Mutex<[Key: Timed]>([:])

    package init() {}

    package func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        counters.withLock { table in
            let key = Self.key(label, dimensions)
            if let existing = table[key] { return existing }
            let made = Counted()
            table[key] = made
            return made
        }
    }

    package func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        recorders.withLock { table in
            let key = Self.key(label, dimensions)
            if let existing = table[key] { return existing }
            let made = Recorded()
            table[key] = made
            return made
        }
    }

    package func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        timers.withLock { table in
            let key = Self.key(label, dimensions)
            if let existing = table[key] { return existing }
            let made = Timed()
            table[key] = made
            return made
        }
    }

    // Handlers stay registered: a counter that is made again continues where it was.
    package func destroyCounter(_ handler: any CounterHandler) {}
    package func destroyRecorder(_ handler: any RecorderHandler) {}
    package func destroyTimer(_ handler: any TimerHandler) {}

    /// Every metric recorded so far: counters as counters, recorders as gauges (the last value), timers
    /// as `<label>_seconds_count` and `<label>_seconds_sum`. Sorted by name and labels.
    package func samples() -> [PB.Metric] {
        var samples: [PB.Metric] = []
        for (key, counter) in counters.withLock({ $0 }) {
            samples.append(.sample(key.label, Double(counter.value), kind: .counter, labels: Self.labels(key)))
        }
        for (key, recorder) in recorders.withLock({ $0 }) {
            samples.append(.sample(key.label, recorder.value, kind: .gauge, labels: Self.labels(key)))
        }
        for (key, timer) in timers.withLock({ $0 }) {
            let (count, nanoseconds) = timer.value
            samples.append(.sample(key.label + "_seconds_count", Double(count), kind: .counter, labels: Self.labels(key)))
            samples.append(.sample(key.label + "_seconds_sum", Double(nanoseconds) / 1e9, kind: .counter, labels: Self.labels(key)))
        }
        return samples.sorted { ($0.name, Self.sortKey($0)) < ($1.name, Self.sortKey($1)) }
    }

    private static func sortKey(_ metric: PB.Metric) -> String {
        metric.labels.map { $0.key + "=" + $0.value }.joined(separator: ",")
    }

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> Key {
        Key(label: label, dimensions: dimensions.sorted { $0.0 < $1.0 }.flatMap { [$0.0, $0.1] })
    }

    private static func labels(_ key: Key) -> [String: String] {
        var labels: [String: String] = [:]
        var index = 0
        while index + 1 < key.dimensions.count {
            labels[key.dimensions[index]] = key.dimensions[index + 1]
            index += 2
        }
        return labels
    }
}

private final class Counted: CounterHandler, Sendable {
    private let total = Mutex<Int64>(0)
    var value: Int64 { total.withLock { $0 } }
    func increment(by amount: Int64) { total.withLock { $0 &+= amount } }
    func reset() { total.withLock { $0 = 0 } }
}

private final class Recorded: RecorderHandler, Sendable {
    private let last = Mutex<Double>(0)
    var value: Double { last.withLock { $0 } }
    func record(_ value: Int64) { last.withLock { $0 = Double(value) } }
    func record(_ value: Double) { last.withLock { $0 = value } }
}

private final class Timed: TimerHandler, Sendable {
    private let totals = Mutex<(count: Int64, nanoseconds: Int64)>((0, 0))
    var value: (count: Int64, nanoseconds: Int64) { totals.withLock { $0 } }
    func recordNanoseconds(_ duration: Int64) { totals.withLock { $0.count += 1; $0.nanoseconds &+= duration } }
}
