import Domain
import Foundation

/// A day of the week, numbered as ISO 8601 does: 1 is Monday, 7 is Sunday.
///
/// JSON accepts the number or the three-letter English name (`"mon"` … `"sun"`, any case) and writes the
/// name, which cannot be confused with Foundation's Sunday-first numbering.
package enum Weekday: Int, Sendable, Hashable, Codable, CaseIterable {
    /// Days, Monday first.
    case monday = 1, tuesday, wednesday, thursday, friday, saturday, sunday

    /// The three-letter JSON name.
    package var shortName: String {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][rawValue - 1]
    }

    /// The day before.
    package var previous: Weekday { Weekday(rawValue: rawValue == 1 ? 7 : rawValue - 1) ?? .sunday }

    /// Decodes `1`…`7` or `"mon"`…`"sun"`.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = Self.dayNumber(in: container) {
            guard let day = Weekday(rawValue: number) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "a weekday number is 1 (Monday) to 7 (Sunday)")
            }
            self = day
            return
        }
        let name = try container.decode(String.self).lowercased()
        guard let day = Weekday.allCases.first(where: { $0.shortName == name || Self.fullNames[$0.rawValue - 1] == name }) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown weekday \"\(name)\"; expected mon, tue, wed, thu, fri, sat, sun or 1…7")
        }
        self = day
    }

    /// The value as a day number, or `nil` when it is not a number: then it must be a name, and decoding
    /// the name reports what is wrong with it. The error here only answers "is it a number?".
    private static func dayNumber(in container: any SingleValueDecodingContainer) -> Int? {
        do {
            return try container.decode(Int.self)
        } catch {
            return nil
        }
    }

    /// Encodes the three-letter name.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(shortName)
    }

    private static let fullNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
}

/// When an agent works: days of the week and a daily window in an IANA time zone.
///
/// ```json
/// {"time_zone": "America/Sao_Paulo", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
/// ```
///
/// `end` may be `"24:00"`. An `end` earlier than `start` is a window across midnight (`"22:00"`–`"06:00"`),
/// which belongs to the day it starts on: Friday 22:00 to Saturday 06:00 needs only `"fri"`. Local times
/// are computed with Foundation's calendar in that zone, so daylight-saving shifts are honoured.
package struct WorkingHours: Sendable, Hashable, Codable {
    /// IANA time zone identifier, e.g. `Europe/Madrid`.
    package var timeZone: String
    /// Working days.
    package var days: [Weekday]
    /// Start of the daily window, `HH:mm`.
    package var start: String
    /// End of the daily window (exclusive), `HH:mm` or `24:00`.
    package var end: String

    /// Creates working hours.
    package init(timeZone: String, days: [Weekday], start: String, end: String) {
        self.timeZone = timeZone; self.days = days; self.start = start; self.end = end
    }

    private enum CodingKeys: String, CodingKey { case timeZone = "time_zone", days, start, end }

    /// Whether `date` falls inside the window. Settings that do not parse (a rule that skipped validation)
    /// contain nothing, so a broken configuration never makes an agent talk at night.
    package func contains(_ date: Date) -> Bool {
        guard let from = Self.minutes(start, allowEndOfDay: false),
              let to = Self.minutes(end, allowEndOfDay: true),
              from != to,
              let (today, now) = localTime(of: date)
        else { return false }
        if from < to {
            return days.contains(today) && now >= from && now < to
        }
        // Across midnight: the evening part belongs to today, the early-morning part to yesterday.
        return (days.contains(today) && now >= from) || (days.contains(today.previous) && now < to)
    }

    /// `date` as a weekday and local time in the zone (`sat 10:15 America/Sao_Paulo`), for explanations.
    package func localDescription(of date: Date) -> String {
        guard let (day, minutes) = localTime(of: date) else { return "unknown time zone \(timeZone)" }
        let hour = minutes / 60, minute = minutes % 60
        return "\(day.shortName) \(hour < 10 ? "0" : "")\(hour):\(minute < 10 ? "0" : "")\(minute) \(timeZone)"
    }

    /// The local weekday and minute of the day of `date`, `nil` for an unknown zone.
    ///
    /// Computed from the zone's offset at that instant (which includes daylight saving) rather than with a
    /// `Calendar`: building a calendar per evaluation was the most expensive part of this condition.
    func localTime(of date: Date) -> (day: Weekday, minute: Int)? {
        guard let zone = TimeZone(identifier: timeZone) else { return nil }
        let local = Int64((date.timeIntervalSince1970 + Double(zone.secondsFromGMT(for: date))).rounded(.down))
        let (days, seconds) = Self.floorDivision(local, 86_400)
        // 1970-01-01 was a Thursday (ISO weekday 4).
        let weekday = Int(Self.floorDivision(days + 3, 7).remainder) + 1
        return (Weekday(rawValue: weekday) ?? .monday, Int(seconds / 60))
    }

    /// Division rounding toward negative infinity, so instants before 1970 land on the right day.
    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let remainder = ((value % divisor) + divisor) % divisor
        return ((value - remainder) / divisor, remainder)
    }

    /// The window in words (`mon,tue 09:00-18:00 America/Sao_Paulo`), for explanations.
    package var summary: String {
        "\(days.map(\.shortName).joined(separator: ",")) \(start)-\(end) \(timeZone)"
    }

    /// Problems with these settings, reported under `path` (`conditions.all[0].hours`, `working_hours`).
    package func problems(at path: String) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        if TimeZone(identifier: timeZone) == nil {
            problems.append(FieldProblem(field: "\(path).time_zone", message: "unknown time zone \"\(timeZone)\"; use an IANA name such as Europe/Madrid"))
        }
        if days.isEmpty {
            problems.append(FieldProblem(field: "\(path).days", message: "must name at least one day"))
        }
        let from = Self.minutes(start, allowEndOfDay: false)
        let to = Self.minutes(end, allowEndOfDay: true)
        if from == nil {
            problems.append(FieldProblem(field: "\(path).start", message: "must be a time HH:mm such as 09:00"))
        }
        if to == nil {
            problems.append(FieldProblem(field: "\(path).end", message: "must be a time HH:mm such as 18:00 (24:00 allowed)"))
        }
        if let from, let to, from == to {
            problems.append(FieldProblem(field: "\(path).end", message: "must differ from start"))
        }
        return problems
    }

    /// Minutes since midnight of `HH:mm`; `24:00` only where the end of the day is meant.
    static func minutes(_ text: String, allowEndOfDay: Bool) -> Int? {
        // Exactly five ASCII bytes `HH:mm`; read directly because this runs on every evaluation.
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: ":") else { return nil }
        let digits = [bytes[0], bytes[1], bytes[3], bytes[4]].map { Int($0) - Int(UInt8(ascii: "0")) }
        guard digits.allSatisfy({ (0...9).contains($0) }) else { return nil }
        let hour = digits[0] * 10 + digits[1]
        let minute = digits[2] * 10 + digits[3]
        guard (0...59).contains(minute) else { return nil }
        if hour == 24 && minute == 0 && allowEndOfDay { return 24 * 60 }
        guard (0...23).contains(hour) else { return nil }
        return hour * 60 + minute
    }
}
