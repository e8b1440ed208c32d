import Foundation
import ServiceKit
import Wire

/// The days an analytics request covers: `from` and `to` (dates, both included) in the time zone `tz`,
/// each day mapped to the UTC hours the services count in.
///
/// A day starts at the UTC hour that holds its local midnight. In zones a whole number of hours from UTC
/// (nearly all, and every zone's daylight-saving shift) that is exact; in the few with a half- or
/// quarter-hour offset (India, Nepal, parts of Australia) a day's first 30 or 45 minutes are counted
/// with the day before.
struct AnalyticsRange: Sendable {
    var from: String
    var to: String
    var timeZone: TimeZone
    var agentID: String?
    /// The local dates, oldest first.
    var days: [String]
    /// The first UTC hour of each day, then the first hour after the last day.
    var bounds: [Int64]

    var fromHour: Int64 { bounds.first ?? 0 }
    var toHour: Int64 { bounds.last ?? 0 }

    /// The longest range a request may ask for.
    static let maximumDays = 366
    /// When `from` is left out: this many days up to `to`.
    static let defaultDays = 30

    /// Reads `from`, `to`, `tz` and `agent_id`; every problem names its parameter.
    static func read(_ query: QueryReader, now: Date) throws -> AnalyticsRange {
        let zoneName = try query.string("tz", maxLength: 64)
        let zone: TimeZone
        if zoneName.isEmpty {
            zone = TimeZone(identifier: "UTC")!
        } else if let named = TimeZone(identifier: zoneName) {
            zone = named
        } else {
            throw Problem.field("tz", "must be an IANA time zone, e.g. Europe/Madrid")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let toDay = try date(query, "to", calendar: calendar) ?? calendar.startOfDay(for: now)
        let fromDay = try date(query, "from", calendar: calendar)
            ?? calendar.date(byAdding: .day, value: -(defaultDays - 1), to: toDay)!
        guard fromDay <= toDay else { throw Problem.field("from", "must not be after to") }
        let count = (calendar.dateComponents([.day], from: fromDay, to: toDay).day ?? 0) + 1
        guard count <= maximumDays else { throw Problem.field("to", "must be at most \(maximumDays) days after from") }
        var days: [String] = []
        var bounds: [Int64] = []
        for offset in 0...count {
            let start = calendar.date(byAdding: .day, value: offset, to: fromDay)!
            bounds.append(AnalyticsCounters.hour(micros: Int64((start.timeIntervalSince1970 * 1_000_000).rounded(.down))))
            if offset < count { days.append(text(start, calendar: calendar)) }
        }
        let agent = try query.string("agent_id", maxLength: 64)
        return AnalyticsRange(from: days.first!, to: days.last!, timeZone: zone, agentID: agent.isEmpty ? nil : agent,
                              days: days, bounds: bounds)
    }

    /// A `yyyy-MM-dd` date as the start of that day in the calendar's zone.
    private static func date(_ query: QueryReader, _ name: String, calendar: Calendar) throws -> Date? {
        let text = try query.string(name, maxLength: 10)
        guard !text.isEmpty else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), year >= 1970,
              let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
              calendar.dateComponents([.year, .month, .day], from: date) == DateComponents(year: year, month: month, day: day)
        else { throw Problem.field(name, "must be a date, e.g. 2026-11-25") }
        return calendar.startOfDay(for: date)
    }

    private static func text(_ date: Date, calendar: Calendar) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// The services' query for these days: hours bucketed into the days.
    var query: PB.AnalyticsQuery {
        var query = PB.AnalyticsQuery()
        query.fromHour = fromHour
        query.toHour = toHour
        query.agentId = agentID ?? ""
        query.bucketStarts = Array(bounds.dropLast())
        return query
    }
}

/// The counters of the three services for a range, by day (index into the range's days) and in total.
struct AnalyticsCounts: Sendable {
    var days: [[String: Int64]]
    var totals: [String: Int64]
    /// The agent each rule's or sequence's counters were attributed to (`rule.<id>` / `sequence.<id>`).
    var agents: [String: String]
    /// Levels at the end of the range (`sequence.<id>.live`: live enrollments), summed over agents.
    var levels: [String: Int64]

    init(range: AnalyticsRange, answers: [PB.AnalyticsCounts]) {
        var days = Array(repeating: [String: Int64](), count: range.days.count)
        var totals: [String: Int64] = [:]
        var agents: [String: String] = [:]
        let index = Dictionary(uniqueKeysWithValues: range.bounds.dropLast().enumerated().map { ($1, $0) })
        var agentOfKey: [String: String] = [:]
        var levels: [String: Int64] = [:]
        for answer in answers {
            for level in answer.levels { levels[level.key, default: 0] += level.value }
            for count in answer.counts {
                guard let day = index[count.hour] else { continue }
                days[day][count.key, default: 0] += count.value
                totals[count.key, default: 0] += count.value
                if !count.agentId.isEmpty { agentOfKey[count.key] = count.agentId }
            }
        }
        // Once per key, not per day: a 90-day answer repeats each key up to 90 times.
        for (key, agent) in agentOfKey {
            let parts = key.split(separator: ".", maxSplits: 2)
            if parts.count >= 2, parts[0] == "rule" || parts[0] == "sequence" { agents["\(parts[0]).\(parts[1])"] = agent }
        }
        self.days = days
        self.totals = totals
        self.agents = agents
        self.levels = levels
    }
}
