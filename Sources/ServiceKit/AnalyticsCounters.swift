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

    /// Running totals beside the hour rows (migration `analytics-running-totals`, after ``schema``), so a
    /// bucket's sum is two lookups per key — the total before its end minus the total before its start —
    /// whatever the bucket's length. Summing a 90-day report's hour rows per request read every one of
    /// them (175,000 for a tenant with 20 rules) and sorted them per day for the GROUP BY.
    package static let runningTotalsSchema = """
        -- every (key, agent) a tenant has counted, so a report knows which running totals to look up
        CREATE TABLE analytics_counter_key (
            tenant_id TEXT NOT NULL,
            key TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            PRIMARY KEY (tenant_id, key, agent_id)
        ) WITHOUT ROWID;
        -- per key, agent and hour with a count: the sum of its values in that hour and every earlier one
        CREATE TABLE analytics_counter_running (
            tenant_id TEXT NOT NULL,
            key TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            hour INTEGER NOT NULL,
            total INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, key, agent_id, hour)
        ) WITHOUT ROWID;
        INSERT INTO analytics_counter_key (tenant_id, key, agent_id)
            SELECT DISTINCT tenant_id, key, agent_id FROM analytics_counter;
        INSERT INTO analytics_counter_running (tenant_id, key, agent_id, hour, total)
            SELECT tenant_id, key, agent_id, hour,
                   sum(value) OVER (PARTITION BY tenant_id, key, agent_id ORDER BY hour)
            FROM analytics_counter;
        """

    /// Adds `value` to a counter; call it only inside the transaction that records what is counted.
    /// Counts land in the current hour, so keeping the running totals is one insert and one update of
    /// the latest row; a correction in an earlier hour (an in-doubt action decided later) updates the
    /// totals of the hours after it too.
    package static func add(_ db: Database, tenantID: String, at micros: Int64, key: String, agentID: String = "",
                            value: Int64 = 1) throws {
        guard value != 0, !tenantID.isEmpty else { return }
        let hour = hour(micros: micros)
        try db.cachedStatement(sql: """
            INSERT INTO analytics_counter (tenant_id, hour, key, agent_id, value) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, hour, key, agent_id) DO UPDATE SET value = value + excluded.value
            """).execute(arguments: [tenantID, hour, key, agentID, value])
        try db.cachedStatement(sql: """
            INSERT INTO analytics_counter_key (tenant_id, key, agent_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
            """).execute(arguments: [tenantID, key, agentID])
        // The hour's row starts from the total before it; then it and every later row take the value.
        try db.cachedStatement(sql: """
            INSERT INTO analytics_counter_running (tenant_id, key, agent_id, hour, total)
            VALUES (?1, ?2, ?3, ?4, coalesce((SELECT total FROM analytics_counter_running
                WHERE tenant_id = ?1 AND key = ?2 AND agent_id = ?3 AND hour < ?4 ORDER BY hour DESC LIMIT 1), 0))
            ON CONFLICT DO NOTHING
            """).execute(arguments: [tenantID, key, agentID, hour])
        try db.cachedStatement(sql: """
            UPDATE analytics_counter_running SET total = total + ?5 WHERE tenant_id = ?1 AND key = ?2 AND agent_id = ?3 AND hour >= ?4
            """).execute(arguments: [tenantID, key, agentID, hour, value])
    }

    /// The counters of a tenant in `[fromHour, toHour)`, optionally of one agent, ordered by hour, key and
    /// agent; with `buckets` (see ``validate(_:)``), summed per bucket and dated by its start.
    package static func counts(_ db: Database, tenantID: String, fromHour: Int64, toHour: Int64, agentID: String?,
                               buckets: [Int64] = []) throws -> [CounterSum] {
        guard !buckets.isEmpty else {
            var sql = "SELECT hour, key, agent_id, value FROM analytics_counter WHERE tenant_id = ? AND hour >= ? AND hour < ?"
            var arguments: StatementArguments = [tenantID, fromHour, toHour]
            if let agentID, !agentID.isEmpty { sql += " AND agent_id = ?"; arguments += [agentID] }
            sql += " AND value != 0 ORDER BY hour, key, agent_id"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                CounterSum(hour: row["hour"], key: row["key"], agentID: row["agent_id"], value: row["value"])
            }
        }
        // Per key, the running total before each bucket boundary (the starts, then to_hour): one index
        // lookup each, in SQLite; a bucket's sum is the difference of its two boundaries.
        let boundaries = buckets + [toHour]
        var filter = "k.tenant_id = ?1"
        var arguments: StatementArguments = [tenantID, "[" + boundaries.map(String.init).joined(separator: ",") + "]"]
        if let agentID, !agentID.isEmpty { filter += " AND k.agent_id = ?3"; arguments += [agentID] }
        // The difference (a window over each key's boundaries) and the order by bucket are SQLite's too.
        let statement = try db.cachedStatement(sql: """
            SELECT position, key, agent_id, value FROM (
                SELECT position, key, agent_id, total - lag(total) OVER (PARTITION BY key, agent_id ORDER BY position) AS value
                FROM (
                    SELECT b.key AS position, k.key AS key, k.agent_id AS agent_id,
                           coalesce((SELECT r.total FROM analytics_counter_running r
                               WHERE r.tenant_id = ?1 AND r.key = k.key AND r.agent_id = k.agent_id AND r.hour < b.value
                               ORDER BY r.hour DESC LIMIT 1), 0) AS total
                    FROM analytics_counter_key k, json_each(?2) b WHERE \(filter)
                )
            ) WHERE value != 0 ORDER BY position, key, agent_id
            """)
        // A cursor reads each row in place; `fetchAll` would copy every one of a 90-day report's thousands first.
        var sums: [CounterSum] = []
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            sums.append(CounterSum(hour: boundaries[(row[0] as Int) - 1], key: row[1], agentID: row[2], value: row[3]))
        }
        return sums
    }

    /// Levels (keys ending in `.live`, +1 when a thing starts and -1 when it ends): each one's sum over
    /// every hour before `toHour` — how many were live at the end of a range — from the running totals.
    package static func levels(_ db: Database, tenantID: String, toHour: Int64, agentID: String?) throws -> [CounterSum] {
        var sql = """
            SELECT key, agent_id, total FROM (
                SELECT k.key AS key, k.agent_id AS agent_id,
                       coalesce((SELECT r.total FROM analytics_counter_running r
                           WHERE r.tenant_id = k.tenant_id AND r.key = k.key AND r.agent_id = k.agent_id AND r.hour < ?2
                           ORDER BY r.hour DESC LIMIT 1), 0) AS total
                FROM analytics_counter_key k WHERE k.tenant_id = ?1 AND k.key LIKE '%.live'
            """
        var arguments: StatementArguments = [tenantID, toHour]
        if let agentID, !agentID.isEmpty { sql += " AND k.agent_id = ?3"; arguments += [agentID] }
        sql += ") WHERE total != 0 ORDER BY key, agent_id"
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            CounterSum(hour: toHour, key: row[0], agentID: row[1], value: row[2])
        }
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
    /// The wire form of counters (and levels) a store read.
    package init(_ sums: [CounterSum], levels: [CounterSum] = []) {
        self.init()
        func wire(_ sum: CounterSum) -> PB.AnalyticsCount {
            var count = PB.AnalyticsCount()
            count.hour = sum.hour
            count.key = sum.key
            count.agentId = sum.agentID
            count.value = sum.value
            return count
        }
        counts = sums.map(wire)
        self.levels = levels.map(wire)
    }
}
