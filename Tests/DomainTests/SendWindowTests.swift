import Foundation
import Testing

@testable import Domain

/// An instant written as ISO 8601 with its UTC offset, so each expectation shows the local time it means.
private func instant(_ text: String) throws -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return try #require(formatter.date(from: text), "not an ISO 8601 instant: \(text)")
}

@Suite("Send window: contains and next opening")
struct SendWindowTests {
    static let madrid = SendWindow(timeZone: "Europe/Madrid", days: SendWindow.Day.workdays, start: "09:00", end: "18:00")
    static let newYork = SendWindow(timeZone: "America/New_York", days: SendWindow.Day.workdays, start: "09:00", end: "18:00")

    // MARK: - Europe/Madrid, Monday to Friday 09:00–18:00

    @Test func fridayJustBeforeCloseIsInside() throws {
        // 2025-03-28 is a Friday, two days before Europe's spring change.
        let date = try instant("2025-03-28T17:59:00+01:00")
        #expect(Self.madrid.contains(date))
        #expect(Self.madrid.nextOpening(atOrAfter: date) == date)
        #expect(Self.madrid.contains(try instant("2025-03-28T17:59:59+01:00").addingTimeInterval(0.999)))
    }

    @Test func fridayAtCloseWaitsForMondayAcrossSpringChange() throws {
        let friday = try instant("2025-03-28T18:00:00+01:00")
        #expect(!Self.madrid.contains(friday))
        // Monday 09:00 is in summer time (+02:00): 07:00 UTC, not 08:00.
        #expect(Self.madrid.nextOpening(atOrAfter: friday) == (try instant("2025-03-31T09:00:00+02:00")))
    }

    @Test(arguments: [
        "2025-03-29T00:00:00+01:00", // Saturday midnight
        "2025-03-29T12:00:00+01:00", // Saturday noon
        "2025-03-30T01:59:59+01:00", // Sunday, one second before clocks jump
        "2025-03-30T03:00:00+02:00", // Sunday, the instant after the jump
        "2025-03-30T23:59:00+02:00", // Sunday night
        "2025-03-31T08:59:59+02:00", // Monday, one second early
    ])
    func weekendBeforeSpringChangeOpensMonday(text: String) throws {
        let date = try instant(text)
        #expect(!Self.madrid.contains(date))
        #expect(Self.madrid.nextOpening(atOrAfter: date) == (try instant("2025-03-31T09:00:00+02:00")))
    }

    @Test(arguments: [
        "2025-10-24T18:00:00+02:00", // Friday close, still summer time
        "2025-10-25T10:00:00+02:00", // Saturday
        "2025-10-26T02:30:00+02:00", // Sunday 02:30, first time round
        "2025-10-26T02:30:00+01:00", // Sunday 02:30, second time round
        "2025-10-26T12:00:00+01:00", // Sunday after the change
    ])
    func weekendBeforeAutumnChangeOpensMonday(text: String) throws {
        let date = try instant(text)
        #expect(!Self.madrid.contains(date))
        // Monday 09:00 is back in winter time (+01:00): 08:00 UTC.
        #expect(Self.madrid.nextOpening(atOrAfter: date) == (try instant("2025-10-27T09:00:00+01:00")))
    }

    @Test func insideReturnsTheSameInstant() throws {
        let wednesday = try instant("2025-07-16T10:15:30+02:00").addingTimeInterval(0.25)
        #expect(Self.madrid.contains(wednesday))
        #expect(Self.madrid.nextOpening(atOrAfter: wednesday) == wednesday)
    }

    @Test func earlyMorningOpensTheSameDay() throws {
        let tuesday = try instant("2025-07-15T07:00:00+02:00")
        #expect(Self.madrid.nextOpening(atOrAfter: tuesday) == (try instant("2025-07-15T09:00:00+02:00")))
        let almost = try instant("2025-07-15T08:59:59+02:00").addingTimeInterval(0.5)
        #expect(Self.madrid.nextOpening(atOrAfter: almost) == (try instant("2025-07-15T09:00:00+02:00")))
    }

    @Test func openingInstantIsInsideAndTheSecondBeforeIsNot() throws {
        let opening = try instant("2025-07-15T09:00:00+02:00")
        #expect(Self.madrid.contains(opening))
        #expect(!Self.madrid.contains(opening.addingTimeInterval(-1)))
        #expect(!Self.madrid.contains(try instant("2025-07-15T18:00:00+02:00")))
    }

    @Test func eveningOpensNextWorkday() throws {
        let wednesday = try instant("2025-07-16T20:00:00+02:00")
        #expect(Self.madrid.nextOpening(atOrAfter: wednesday) == (try instant("2025-07-17T09:00:00+02:00")))
    }

    // MARK: - America/New_York (changes on other dates than Europe)

    @Test func newYorkSpringChange() throws {
        // 2025-03-09 is the US spring change; Friday the 7th is still standard time.
        let friday = try instant("2025-03-07T18:00:00-05:00")
        #expect(!Self.newYork.contains(friday))
        #expect(Self.newYork.contains(try instant("2025-03-07T17:59:00-05:00")))
        #expect(Self.newYork.nextOpening(atOrAfter: friday) == (try instant("2025-03-10T09:00:00-04:00")))
    }

    @Test func newYorkAutumnChange() throws {
        // 2025-11-02 is the US autumn change.
        let friday = try instant("2025-10-31T18:30:00-04:00")
        #expect(Self.newYork.nextOpening(atOrAfter: friday) == (try instant("2025-11-03T09:00:00-05:00")))
    }

    @Test func sameInstantDiffersByZone() throws {
        // 15:00 UTC on a Monday is 16:00 in Madrid (winter) and 10:00 in New York: both open.
        // 23:30 UTC is 00:30 Tuesday in Madrid (closed) and 18:30 in New York (closed).
        let afternoon = try instant("2025-01-13T15:00:00Z")
        #expect(Self.madrid.contains(afternoon) && Self.newYork.contains(afternoon))
        let night = try instant("2025-01-13T23:30:00Z")
        #expect(!Self.madrid.contains(night) && !Self.newYork.contains(night))
        #expect(Self.madrid.nextOpening(atOrAfter: night) == (try instant("2025-01-14T09:00:00+01:00")))
        #expect(Self.newYork.nextOpening(atOrAfter: night) == (try instant("2025-01-14T09:00:00-05:00")))
    }

    // MARK: - UTC and shapes of windows

    @Test func utcWeekendWindowWrapsToNextWeek() throws {
        let window = SendWindow(timeZone: "UTC", days: [.sat, .sun], start: "10:00", end: "12:00")
        let sundayNoon = try instant("2025-06-15T12:00:00Z")
        #expect(!window.contains(sundayNoon))
        #expect(window.contains(try instant("2025-06-15T11:59:59Z")))
        #expect(window.nextOpening(atOrAfter: sundayNoon) == (try instant("2025-06-21T10:00:00Z")))
    }

    @Test func singleDayWindowWaitsUpToAWeek() throws {
        let window = SendWindow(timeZone: "UTC", days: [.mon], start: "09:00", end: "09:01")
        let justClosed = try instant("2025-06-16T09:01:00Z")
        #expect(window.nextOpening(atOrAfter: justClosed) == (try instant("2025-06-23T09:00:00Z")))
    }

    @Test func allDayWindowContainsEverything() throws {
        let window = SendWindow(timeZone: "UTC", days: SendWindow.Day.allCases, start: "00:00", end: "24:00")
        for text in ["2025-06-15T00:00:00Z", "2025-06-15T23:59:59Z", "2025-12-31T12:00:00Z"] {
            let date = try instant(text)
            #expect(window.contains(date))
            #expect(window.nextOpening(atOrAfter: date) == date)
        }
    }

    @Test func untilMidnightIncludesTheLastSecond() throws {
        let window = SendWindow(timeZone: "Europe/Madrid", days: [.fri], start: "20:00", end: "24:00")
        #expect(window.contains(try instant("2025-07-18T23:59:59+02:00")))
        #expect(!window.contains(try instant("2025-07-19T00:00:00+02:00")))
    }

    @Test func halfHourZone() throws {
        let window = SendWindow(timeZone: "Asia/Kolkata", days: SendWindow.Day.workdays, start: "09:00", end: "18:00")
        // Friday 18:00 IST → Monday 09:00 IST, 03:30 UTC.
        #expect(window.nextOpening(atOrAfter: try instant("2025-06-13T12:30:00Z")) == (try instant("2025-06-16T03:30:00Z")))
    }

    // MARK: - Opening times that daylight saving skips or repeats

    @Test func openingSkippedBySpringChangeOpensRightAfterTheJump() throws {
        // Madrid jumps 02:00 → 03:00 on 2025-03-30; 02:30 never happens that night.
        let window = SendWindow(timeZone: "Europe/Madrid", days: [.sun], start: "02:30", end: "04:00")
        let night = try instant("2025-03-30T00:00:00+01:00")
        let jump = try instant("2025-03-30T03:00:00+02:00")
        #expect(window.nextOpening(atOrAfter: night) == jump)
        #expect(window.contains(jump))
        #expect(!window.contains(jump.addingTimeInterval(-1)))
    }

    @Test func windowEntirelySkippedOpensTheNextWeek() throws {
        let window = SendWindow(timeZone: "Europe/Madrid", days: [.sun], start: "02:10", end: "02:40")
        let night = try instant("2025-03-30T00:00:00+01:00")
        #expect(window.nextOpening(atOrAfter: night) == (try instant("2025-04-06T02:10:00+02:00")))
    }

    @Test func repeatedHourOpensAgainOnTheSecondPass() throws {
        // Madrid goes back 03:00 → 02:00 on 2025-10-26, so 02:00–02:30 happens twice.
        let window = SendWindow(timeZone: "Europe/Madrid", days: [.sun], start: "01:00", end: "02:30")
        let firstPassLate = try instant("2025-10-26T02:45:00+02:00")
        #expect(!window.contains(firstPassLate))
        let secondPass = try instant("2025-10-26T02:00:00+01:00")
        #expect(window.nextOpening(atOrAfter: firstPassLate) == secondPass)
        #expect(window.contains(try instant("2025-10-26T02:15:00+01:00")))
        #expect(!window.contains(try instant("2025-10-26T02:30:00+01:00")))
    }

    @Test func openingAtTheRepeatedHourTakesTheFirstPass() throws {
        let window = SendWindow(timeZone: "Europe/Madrid", days: [.sun], start: "02:30", end: "05:00")
        #expect(window.nextOpening(atOrAfter: try instant("2025-10-26T00:00:00+02:00"))
            == (try instant("2025-10-26T02:30:00+02:00")))
    }

    @Test func zoneChangingAtMidnight() throws {
        // Santiago's spring change skips midnight itself: 2025-09-07 begins at 01:00 (-03:00).
        let window = SendWindow(timeZone: "America/Santiago", days: [.sun], start: "00:00", end: "02:00")
        let saturday = try instant("2025-09-06T23:00:00-04:00")
        #expect(window.nextOpening(atOrAfter: saturday) == (try instant("2025-09-07T01:00:00-03:00")))
    }

    // MARK: - No window, unusable windows, extremes

    @Test func nilWindowIsAlwaysOpen() throws {
        let none: SendWindow? = nil
        let date = try instant("2025-03-29T03:00:00Z")
        #expect(none.contains(date))
        #expect(none.nextOpening(atOrAfter: date) == date)
        let some: SendWindow? = Self.madrid
        #expect(!some.contains(date))
        #expect(some.nextOpening(atOrAfter: date) == (try instant("2025-03-31T09:00:00+02:00")))
    }

    @Test(arguments: [
        SendWindow(timeZone: "Mars/Olympus_Mons"),
        SendWindow(timeZone: "Europe/Madrid", days: []),
        SendWindow(timeZone: "Europe/Madrid", start: "18:00", end: "09:00"),
        SendWindow(timeZone: "Europe/Madrid", start: "9am", end: "6pm"),
    ])
    func unusableWindowsNeverHoldMessages(window: SendWindow) throws {
        #expect(!window.validate().isEmpty)
        let saturday = try instant("2025-03-29T03:00:00Z")
        #expect(window.contains(saturday))
        #expect(window.nextOpening(atOrAfter: saturday) == saturday)
    }

    @Test(arguments: [Date.distantPast, Date.distantFuture, Date(timeIntervalSince1970: 1e300), Date(timeIntervalSince1970: .infinity)])
    func extremeDatesTerminate(date: Date) {
        let result = Self.madrid.nextOpening(atOrAfter: date)
        #expect(result >= date)
    }

    // MARK: - Against Foundation's Calendar

    /// Whether `date` is inside `window`, computed from `Calendar`'s local components, independently of
    /// the implementation's offset arithmetic.
    private static func calendarSaysInside(_ window: SendWindow, _ date: Date, _ calendar: Calendar) -> Bool {
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        guard let weekday = parts.weekday.flatMap(SendWindow.Day.init(gregorianWeekday:)),
              let hour = parts.hour, let minute = parts.minute,
              let start = SendWindow.minutes(window.start, allowingEndOfDay: false),
              let end = SendWindow.minutes(window.end, allowingEndOfDay: true)
        else { return false }
        let local = hour * 60 + minute
        return window.days.contains(weekday) && local >= start && local < end
    }

    static let zones = ["Europe/Madrid", "America/New_York", "UTC", "Australia/Sydney", "Asia/Kolkata", "America/Santiago", "Pacific/Chatham"]

    @Test(arguments: zones)
    func agreesWithCalendarOnRandomWindowsAndInstants(zone: String) throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: zone))
        var random = SeededGenerator(seed: UInt64(zone.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
        // 2024-01-01 to 2026-12-31, which has six daylight-saving changes in most of these zones.
        let range = 1_704_067_200.0...1_798_675_200.0
        for _ in 0..<40 {
            let startMinute = Int.random(in: 0..<(24 * 60 - 1), using: &random)
            let endMinute = Int.random(in: (startMinute + 1)...(24 * 60), using: &random)
            var days = SendWindow.Day.allCases.filter { _ in Bool.random(using: &random) }
            if days.isEmpty { days = [SendWindow.Day.allCases.randomElement(using: &random)!] }
            let window = SendWindow(
                timeZone: zone, days: days,
                start: String(format: "%02d:%02d", startMinute / 60, startMinute % 60),
                end: String(format: "%02d:%02d", endMinute / 60, endMinute % 60)
            )
            #expect(window.validate().isEmpty)
            let date = Date(timeIntervalSince1970: Double.random(in: range, using: &random).rounded(.down))
            #expect(window.contains(date) == Self.calendarSaysInside(window, date, calendar))

            let opening = window.nextOpening(atOrAfter: date)
            #expect(opening >= date)
            #expect(Self.calendarSaysInside(window, opening, calendar), "\(window) from \(date) gave \(opening)")
            // Nothing earlier is inside: windows and zone changes fall on whole minutes, so checking each
            // whole minute between the two (the start itself was checked above) covers every instant.
            var probe = Date(timeIntervalSince1970: ((date.timeIntervalSince1970 + 1) / 60).rounded(.up) * 60)
            var earlier = false
            while probe < opening {
                if Self.calendarSaysInside(window, probe, calendar) { earlier = true; break }
                probe = probe.addingTimeInterval(60)
            }
            #expect(!earlier, "\(window) from \(date) skipped an opening at \(probe)")
        }
    }
}

/// SplitMix64, so the random windows are the same on every run.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
