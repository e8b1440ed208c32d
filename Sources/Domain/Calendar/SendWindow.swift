import Foundation

/// The hours in which messages may go out to leads: some days of the week, one span of local time each
/// day, in one time zone.
///
/// Times are local wall-clock times, so "09:00" stays 09:00 across daylight-saving changes. The span is
/// half-open: a window 09:00–18:00 includes 17:59:59 and excludes 18:00. `end` may be `24:00` (until
/// midnight); windows that cross midnight are not supported and fail validation.
///
/// An unusable window (unknown zone, no days, malformed or empty hours; see ``validate()``) is treated as
/// always open by ``contains(_:)`` and ``nextOpening(atOrAfter:)``: validation keeps such windows from
/// being saved, and if one slips through, sending is better than holding a lead's messages forever. A `nil` window is always open too
/// (see the `Optional` extension).
package struct SendWindow: Codable, Sendable, Hashable {
    /// An IANA time zone name, e.g. `Europe/Madrid`.
    package var timeZone: String
    /// The days on which the window opens.
    package var days: [Day]
    /// Opening time, `HH:mm`, 24-hour clock.
    package var start: String
    /// Closing time, `HH:mm`, 24-hour clock, after `start`; `24:00` means midnight at the end of the day.
    package var end: String

    /// Creates a window; defaults are Monday to Friday, 09:00–18:00.
    package init(timeZone: String, days: [Day] = Day.workdays, start: String = "09:00", end: String = "18:00") {
        self.timeZone = timeZone
        self.days = days
        self.start = start
        self.end = end
    }
}

// MARK: - Validation

extension SendWindow {
    /// Every problem with the window, per field (`timeZone`, `days`, `start`, `end`); empty when valid.
    package func validate() -> [FieldProblem] {
        var problems: [FieldProblem] = []
        let zone = timeZone.trimmingCharacters(in: .whitespaces)
        if zone.isEmpty {
            problems.append(FieldProblem(field: "timeZone", message: "A time zone is required, e.g. Europe/Madrid."))
        } else if TimeZone(identifier: zone) == nil {
            problems.append(FieldProblem(
                field: "timeZone",
                message: "Unknown time zone '\(timeZone)'; use an IANA name such as Europe/Madrid or America/New_York."
            ))
        }

        if days.isEmpty {
            problems.append(FieldProblem(field: "days", message: "Choose at least one day."))
        } else {
            var seen = Set<Day>()
            for day in days where !seen.insert(day).inserted {
                problems.append(FieldProblem(field: "days", message: "'\(day.rawValue)' is listed more than once."))
            }
        }

        let opening = Self.minutes(start, allowingEndOfDay: false)
        let closing = Self.minutes(end, allowingEndOfDay: true)
        if opening == nil {
            problems.append(FieldProblem(field: "start", message: "'\(start)' is not a time; use HH:mm between 00:00 and 23:59, e.g. 09:00."))
        }
        if closing == nil {
            problems.append(FieldProblem(field: "end", message: "'\(end)' is not a time; use HH:mm between 00:01 and 24:00, e.g. 18:00."))
        }
        if let opening, let closing, closing <= opening {
            problems.append(FieldProblem(
                field: "end",
                message: "The window closes at \(end) but opens at \(start): end must be later than start (windows that cross midnight are not supported)."
            ))
        }
        return problems
    }

    /// Minutes after midnight of a strict `HH:mm` time; `24:00` only when `allowingEndOfDay`.
    static func minutes(_ text: String, allowingEndOfDay: Bool) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: ":") else { return nil }
        let digits = [bytes[0], bytes[1], bytes[3], bytes[4]]
        guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        let values = digits.map { Int($0 - UInt8(ascii: "0")) }
        let hour = values[0] * 10 + values[1]
        let minute = values[2] * 10 + values[3]
        guard minute < 60 else { return nil }
        if hour == 24, minute == 0, allowingEndOfDay { return 24 * 60 }
        guard hour < 24 else { return nil }
        return hour * 60 + minute
    }
}
