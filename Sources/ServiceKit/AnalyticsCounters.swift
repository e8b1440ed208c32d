import GRDB
import Wire

/// Analytics counters every service keeps for what it owns: per tenant, UTC hour, agent and key. They are
/// bumped inside the transaction that records the thing counted, and only when that transaction
/// actually records it (a new event row, a new decision, an action's first terminal outcome), so a
/// retried or replayed step never counts twice. Hours rather than days so the gateway can build days in
/// the tenant's time zone; an hour row per key is small enough that a year of a busy tenant is read in
/// milliseconds, never a scan of the things themselves.
package enum AnalyticsCounters {
    /// The table, created by each service's own migration.
    package static let schema = """
        CREATE TABLE analytics_counter (
            tenant_id TEXT NOT NULL,
            -- hours since the Unix epoch, UTC
            hour INTEGER NOT NULL,
            key TEXT NOT NULL,
            -- the agent the count is attributed to; '' when none
            agent_id TEXT NOT NULL DEFAULT '',
            value INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, hour, key, agent_id)
        ) WITHOUT ROWID;
        """

    /// The longest range one query may ask for.
    package static let maximumHours: Int64 = 24 * 400

    /// The UTC hour of a time in microseconds (floor, so times before 1970 land in the right hour too).
    package static func hour(micros: Int64) -> Int64 {
        let perHour: Int64 = 3_600_000_000
        return micros >= 0 ? micros / perHour : -((-micros + perHour - 1) / perHour)
    }

    /// Adds `value` to a counter; call it only inside the transaction that records what is counted.
    package static func add(_ db: Database, tenantID: String, at micros: Int64, key: String, agentID: String = "",
                            value: Int64 = 1) throws {
        guard value != 0, !tenantID.isEmpty else { return }
        try db.cachedStatement(sql: """
            INSERT INTO analytics_counter (tenant_id, hour, key, agent_id, value) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, hour, key, agent_id) DO UPDATE SET value = value + excluded.value
            """).execute(arguments: [tenantID, hour(micros: micros), key, agentID, value])
    }

    /// The counters of a tenant in `[fromHour, toHour)`, optionally of one agent, ordered by hour, key and
    /// agent; with `buckets` (see ``validate(_:)``), summed per bucket and dated by its start.
    package static func counts(_ db: Database, tenantID: String, fromHour: Int64, toHour: Int64, agentID: String?,
                               buckets: [Int64] = []) throws -> [CounterSum] {
        var sql = "SELECT hour, key, agent_id, value FROM analytics_counter WHERE tenant_id = ? AND hour >= ? AND hour < ?"
        var arguments: StatementArguments = [tenantID, fromHour, toHour]
        if let agentID, !agentID.isEmpty { sql += " AND agent_id = ?"; arguments += [agentID] }
        sql += " AND value != 0 ORDER BY hour, key, agent_id"
        guard !buckets.isEmpty else {
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                CounterSum(hour: row["hour"], key: row["key"], agentID: row["agent_id"], value: row["value"])
            }
        }
        // One grouped query per bucket: SQLite sums each bucket's hours in C over the primary key's range,
        // so a 90-day report reads 90 small answers instead of every hour row.
        var filter = "tenant_id = ? AND hour >= ? AND hour < ?"
        if let agentID, !agentID.isEmpty { filter += " AND agent_id = ?" }
        let statement = try db.cachedStatement(sql: """
            SELECT key, agent_id, sum(value) AS value FROM analytics_counter WHERE \(filter)
            GROUP BY key, agent_id HAVING sum(value) != 0 ORDER BY key, agent_id
            """)
        var sums: [CounterSum] = []
        for (index, start) in buckets.enumerated() {
            let end = index + 1 < buckets.count ? buckets[index + 1] : toHour
            var arguments: StatementArguments = [tenantID, start, end]
            if let agentID, !agentID.isEmpty { arguments += [agentID] }
            for row in try Row.fetchAll(statement, arguments: arguments) {
                sums.append(CounterSum(hour: start, key: row["key"], agentID: row["agent_id"], value: row["value"]))
            }
        }
        return sums
    }

    /// Checks a query's range and buckets: `INVALID_ARGUMENT` naming what is at fault.
    package static func validate(_ query: PB.AnalyticsQuery) throws(RPCError) {
        guard query.toHour >= query.fromHour else {
            throw RPCError(.invalidArgument, "to_hour (\(query.toHour)) is before from_hour (\(query.fromHour))")
        }
        guard query.toHour - query.fromHour <= maximumHours else {
            throw RPCError(.invalidArgument, "the range is longer than \(maximumHours) hours")
        }
        let starts = query.bucketStarts
        guard !starts.isEmpty else { return }
        guard starts.count <= 400, starts[0] == query.fromHour, starts.last! < max(query.toHour, query.fromHour + 1),
              zip(starts, starts.dropFirst()).allSatisfy({ $0 < $1 })
        else {
            throw RPCError(.invalidArgument, "bucket_starts must ascend from from_hour, stay before to_hour and number at most 400")
        }
    }
}

/// One counter's value in one hour for one agent, as a store reads it.
package struct CounterSum: Sendable, Hashable {
    package var hour: Int64
    package var key: String
    package var agentID: String
    package var value: Int64

    package init(hour: Int64, key: String, agentID: String, value: Int64) {
        self.hour = hour; self.key = key; self.agentID = agentID; self.value = value
    }
}

extension PB.AnalyticsCounts {
    /// The wire form of counters a store read.
    package init(_ sums: [CounterSum]) {
        self.init()
        counts = sums.map { sum in
            var count = PB.AnalyticsCount()
            count.hour = sum.hour
            count.key = sum.key
            count.agentId = sum.agentID
            count.value = sum.value
            return count
        }
    }
}
