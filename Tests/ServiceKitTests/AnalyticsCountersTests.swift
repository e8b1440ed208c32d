import GRDB
import ServiceKit
import Testing

@Suite("analytics counters in a store")
struct AnalyticsCountersStoreTests {
    /// A store with the counters' tables, as every service's migrations create them.
    static func store() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: AnalyticsCounters.schema)
            try db.execute(sql: AnalyticsCounters.runningTotalsSchema)
        }
        return queue
    }

    static func micros(hour: Int64) -> Int64 { hour * 3_600_000_000 + 1_234 }

    @Test("bucket sums from running totals equal the hours summed by hand, with corrections in earlier hours and per agent")
    func bucketsMatchHours() throws {
        let queue = try Self.store()
        var generator = SystemRandomNumberGenerator()
        var expected: [String: Int64] = [:]  // "hour|key|agent" → value
        let keys = ["rule.r1.fired", "rule.r1.cooldown", "events.type.lead_updated", "actions.add_note.in_doubt"]
        let agents = ["", "agt_a", "agt_b"]
        try queue.write { db in
            for step in 0..<600 {
                // Mostly moving forward in time like a live service; now and then a correction hours back.
                let hour = Int64(step / 5) - (step % 37 == 0 ? Int64.random(in: 1...40, using: &generator) : 0)
                let key = keys.randomElement(using: &generator)!, agent = agents.randomElement(using: &generator)!
                let value = step % 37 == 0 ? -1 : Int64.random(in: 1...5, using: &generator)
                try AnalyticsCounters.add(db, tenantID: "tn_a", at: Self.micros(hour: hour), key: key, agentID: agent, value: value)
                expected["\(hour)|\(key)|\(agent)", default: 0] += value
                // Another tenant's counts never show.
                try AnalyticsCounters.add(db, tenantID: "tn_b", at: Self.micros(hour: hour), key: key, agentID: agent, value: 1000)
            }
        }
        // Uneven buckets (a 23- and a 25-hour day among them), starting after the first counts.
        let buckets: [Int64] = [3, 26, 51, 75, 90, 100]
        let toHour: Int64 = 118
        for agent in [nil, "agt_a"] {
            let sums = try queue.read { db in
                try AnalyticsCounters.counts(db, tenantID: "tn_a", fromHour: buckets[0], toHour: toHour, agentID: agent, buckets: buckets)
            }
            var byHand: [CounterSum] = []
            for (index, start) in buckets.enumerated() {
                let end = index + 1 < buckets.count ? buckets[index + 1] : toHour
                var bucket: [String: Int64] = [:]
                for (cell, value) in expected {
                    let parts = cell.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                    guard let hour = Int64(parts[0]), hour >= start, hour < end, agent == nil || parts[2] == agent else { continue }
                    bucket["\(parts[1])|\(parts[2])", default: 0] += value
                }
                for (cell, value) in bucket where value != 0 {
                    let parts = cell.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                    byHand.append(CounterSum(hour: start, key: parts[0], agentID: parts[1], value: value))
                }
            }
            byHand.sort { ($0.hour, $0.key, $0.agentID) < ($1.hour, $1.key, $1.agentID) }
            #expect(!byHand.isEmpty)
            #expect(sums == byHand)
        }
    }
}
