import Foundation
import Testing

@testable import Domain

@Suite("Send window: validation and JSON")
struct SendWindowValidationTests {
    static let valid = SendWindow(timeZone: "Europe/Madrid", days: SendWindow.Day.workdays, start: "09:00", end: "18:00")

    @Test(arguments: [
        valid,
        SendWindow(timeZone: "America/New_York", days: [.sat], start: "00:00", end: "24:00"),
        SendWindow(timeZone: "UTC", days: SendWindow.Day.allCases, start: "23:58", end: "23:59"),
        SendWindow(timeZone: "Asia/Kolkata", days: [.sun, .mon], start: "07:30", end: "07:31"),
    ])
    func validWindowsHaveNoProblems(window: SendWindow) {
        #expect(window.validate() == [])
    }

    @Test(arguments: [
        (SendWindow(timeZone: "Mars/Olympus_Mons"), "timeZone", "Mars/Olympus_Mons"),
        (SendWindow(timeZone: ""), "timeZone", "required"),
        (SendWindow(timeZone: "   "), "timeZone", "required"),
        (SendWindow(timeZone: "Europe/Madrid", days: []), "days", "at least one day"),
        (SendWindow(timeZone: "Europe/Madrid", days: [.mon, .tue, .mon]), "days", "'mon' is listed more than once"),
        (SendWindow(timeZone: "Europe/Madrid", start: "9:00"), "start", "'9:00' is not a time"),
        (SendWindow(timeZone: "Europe/Madrid", start: "25:00"), "start", "'25:00'"),
        (SendWindow(timeZone: "Europe/Madrid", start: "09:60"), "start", "'09:60'"),
        (SendWindow(timeZone: "Europe/Madrid", start: "24:00"), "start", "'24:00'"),
        (SendWindow(timeZone: "Europe/Madrid", start: " 09:00"), "start", "' 09:00'"),
        (SendWindow(timeZone: "Europe/Madrid", start: "09.00"), "start", "'09.00'"),
        (SendWindow(timeZone: "Europe/Madrid", start: "９９:００"), "start", "not a time"),
        (SendWindow(timeZone: "Europe/Madrid", end: "24:01"), "end", "'24:01'"),
        (SendWindow(timeZone: "Europe/Madrid", end: "6pm"), "end", "'6pm'"),
        (SendWindow(timeZone: "Europe/Madrid", end: ""), "end", "not a time"),
        (SendWindow(timeZone: "Europe/Madrid", start: "18:00", end: "09:00"), "end", "end must be later than start"),
        (SendWindow(timeZone: "Europe/Madrid", start: "22:00", end: "02:00"), "end", "cross midnight"),
        (SendWindow(timeZone: "Europe/Madrid", start: "09:00", end: "09:00"), "end", "end must be later than start"),
    ])
    func eachMistakeIsReportedOnItsField(window: SendWindow, field: String, fragment: String) throws {
        let problems = window.validate()
        #expect(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.field == field)
        #expect(problem.message.contains(fragment), "\(problem.message)")
    }

    @Test func allProblemsAtOnce() {
        let window = SendWindow(timeZone: "Nowhere/Special", days: [], start: "noon", end: "25:00")
        #expect(window.validate().map(\.field) == ["timeZone", "days", "start", "end"])
    }

    @Test func problemsNestUnderTheParentField() {
        let problems = SendWindow(timeZone: "Nowhere/Special").validate().map { $0.nested(under: "sendWindow") }
        #expect(problems.map(\.field) == ["sendWindow.timeZone"])
        #expect(FieldProblem(field: "x", message: "m").nested(under: "") == FieldProblem(field: "x", message: "m"))
        #expect(String(describing: FieldProblem(field: "end", message: "bad")) == "end: bad")
    }

    // MARK: - JSON

    @Test func jsonUsesLowercaseDayAbbreviations() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(Self.valid), as: UTF8.self)
        #expect(json == #"{"days":["mon","tue","wed","thu","fri"],"end":"18:00","start":"09:00","timeZone":"Europe\/Madrid"}"#)
    }

    @Test func decodesFromJSON() throws {
        let json = #"{"timeZone":"America/New_York","days":["sat","sun"],"start":"10:00","end":"14:30"}"#
        let window = try JSONDecoder().decode(SendWindow.self, from: Data(json.utf8))
        #expect(window == SendWindow(timeZone: "America/New_York", days: [.sat, .sun], start: "10:00", end: "14:30"))
    }

    @Test(arguments: [#""monday""#, #""Mon""#, #""""#, "1"])
    func rejectsOtherDaySpellings(json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SendWindow.Day.self, from: Data(json.utf8)) }
    }

    @Test func fieldProblemJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(FieldProblem(field: "end", message: "bad")), as: UTF8.self)
        #expect(json == #"{"field":"end","message":"bad"}"#)
    }

    // MARK: - SendWindow.Day

    @Test(arguments: [(1, SendWindow.Day.sun), (2, .mon), (3, .tue), (4, .wed), (5, .thu), (6, .fri), (7, .sat)])
    func gregorianWeekdayNumbers(number: Int, day: SendWindow.Day) {
        #expect(SendWindow.Day(gregorianWeekday: number) == day)
    }

    @Test(arguments: [0, 8, -1])
    func outOfRangeWeekdayNumbers(number: Int) {
        #expect(SendWindow.Day(gregorianWeekday: number) == nil)
    }

    @Test func weekdaysSortMondayFirst() {
        #expect([SendWindow.Day.sun, .wed, .mon, .sat].sorted() == [.mon, .wed, .sat, .sun])
        #expect(SendWindow.Day.allCases.map(\.isoIndex) == Array(0...6))
    }
}
