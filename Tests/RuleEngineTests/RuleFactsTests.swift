import Foundation
import Testing
import Domain
@testable import RuleEngine

@Suite("Lead facts and working hours")
struct RuleFactsTests {
    typealias F = RuleFixture

    // MARK: - Facts

    @Test("A stage change records the stage, pipeline and when it was entered; a late older event does not move it back")
    func stage() throws {
        let moved = try #require(F.evaluate(F.stageChange(to: 502, from: 501, id: "e1"), rules: []).facts)
        #expect(moved.stageID == 502)
        #expect(moved.pipelineID == 7001)
        #expect(moved.stageEnteredAt == F.t0)
        let late = try #require(F.evaluate(F.stageChange(to: 501, from: 500, id: "e0", at: F.t0.addingTimeInterval(-60)), rules: [], facts: moved).facts)
        #expect(late.stageID == 502)
        #expect(late.stageEnteredAt == F.t0)
    }

    @Test("A stage first learned from an update has no entered time, so no timer is armed from a guess")
    func stageFromUpdate() throws {
        let rule = F.rule("stuck", trigger: .timeBased(.stageEntered, after: 60))
        let update = KommoEvent(id: "u", tenantID: "tenant-1", type: .leadUpdated, entityType: "lead", entityID: "1", leadID: 1,
                                occurredAt: F.t0, receivedAt: F.t0, pipelineID: 7001, statusID: 502)
        let decision = F.evaluate(update, rules: [rule], facts: nil)
        let facts = try #require(decision.facts)
        #expect(facts.stageID == 502)
        #expect(facts.stageEnteredAt == nil)
        #expect(decision.timers.isEmpty)
        // A later update in another stage is a move we saw happen.
        var next = update
        next.id = "u2"; next.statusID = 503; next.occurredAt = F.t0.addingTimeInterval(60)
        let moved = F.evaluate(next, rules: [rule], facts: facts)
        #expect(moved.facts?.stageEnteredAt == F.t0.addingTimeInterval(60))
        #expect(moved.timers.map(\.key) == ["stuck:1"])
    }

    @Test("Messages update the inbound and outbound times and count, once per event even when replayed")
    func messages() throws {
        let first = try #require(F.evaluate(F.message("oi", id: "m1", origin: "telegram"), rules: [], facts: F.facts(inboundCount: 0)).facts)
        #expect(first.inboundCount == 1)
        #expect(first.lastInboundAt == F.t0)
        #expect(first.lastInboundText == "oi")
        #expect(first.lastInboundOrigin == "telegram")
        let replayed = try #require(F.evaluate(F.message("oi", id: "m1", origin: "telegram"), rules: [], facts: first).facts)
        #expect(replayed.inboundCount == 1)
        let out = try #require(F.evaluate(F.message("hello", id: "m2", at: F.t0.addingTimeInterval(5), direction: "outgoing"), rules: [], facts: replayed).facts)
        #expect(out.lastOutboundAt == F.t0.addingTimeInterval(5))
        #expect(out.inboundCount == 1)
        #expect(out.updatedAt == F.t0.addingTimeInterval(5))
    }

    @Test("SMS notes count as messages")
    func smsNotes() throws {
        var sms = F.note("Can you call me?")
        sms.noteType = 102
        let facts = try #require(F.evaluate(sms, rules: [], facts: F.facts(inboundCount: 0)).facts)
        #expect(facts.inboundCount == 1)
        #expect(facts.lastInboundText == "Can you call me?")
    }

    @Test("Lead creation records the creation time, and field values by key, id and name")
    func creation() throws {
        let event = KommoEvent(id: "c", tenantID: "tenant-1", type: .leadCreated, entityType: "lead", entityID: "1", leadID: 1,
                               occurredAt: F.t0, receivedAt: F.t0, pipelineID: 7001, statusID: 501, responsibleUserID: 42,
                               fields: ["Name": "Deal", "price": "100"],
                               customFields: [CustomFieldValue(id: "881", name: "Budget", code: "BUDGET", values: ["a", "b"])])
        let facts = try #require(F.evaluate(event, rules: [], facts: nil).facts)
        #expect(facts.leadCreatedAt == F.t0)
        #expect(facts.responsibleUserID == 42)
        #expect(facts.fieldValues["name"] == "Deal")
        #expect(facts.fieldValues["status_id"] == "501")
        #expect(facts.fieldValues["cf.881"] == "a, b")
        #expect(facts.fieldValues["cf.budget"] == "a, b")
        #expect(facts.recentEventIDs == ["c"])
    }

    @Test("Kommo's old status beats our memory for changed_from")
    func oldStatus() throws {
        let rule = F.rule("left-501", trigger: .stageChanged(), conditions: .fieldValue(.init(field: "status_id", op: .changedFrom, value: "500")))
        // Our facts missed the move into 500; Kommo says the lead came from 500.
        let decision = F.evaluate(F.stageChange(to: 502, from: 500), rules: [rule], facts: F.facts(stage: 501))
        #expect(try F.outcome(decision, "left-501").outcome == .fired)
    }

    @Test("Remembered event ids are bounded")
    func boundedMemory() throws {
        var facts: LeadFacts? = F.facts()
        for index in 0..<(FactsUpdate.rememberedEvents + 5) {
            facts = F.evaluate(F.message("m", id: "m\(index)", at: F.t0.addingTimeInterval(Double(index))), rules: [], facts: facts).facts
        }
        #expect(facts?.recentEventIDs.count == FactsUpdate.rememberedEvents)
        #expect(facts?.recentEventIDs.last == "m\(FactsUpdate.rememberedEvents + 4)")
    }

    // MARK: - Working hours

    static let saoPaulo = WorkingHours(timeZone: "America/Sao_Paulo", days: [.monday, .tuesday, .wednesday, .thursday, .friday], start: "09:00", end: "18:00")
    static let night = WorkingHours(timeZone: "Europe/Madrid", days: [.friday], start: "22:00", end: "06:00")
    static let allDay = WorkingHours(timeZone: "UTC", days: [.sunday], start: "00:00", end: "24:00")

    @Test("Working hours", arguments: [
        (saoPaulo, "2025-01-06T12:00:00Z", true),   // Mon 09:00 local: the window opens
        (saoPaulo, "2025-01-06T11:59:00Z", false),  // Mon 08:59
        (saoPaulo, "2025-01-06T20:59:00Z", true),   // Mon 17:59
        (saoPaulo, "2025-01-06T21:00:00Z", false),  // Mon 18:00: the end is exclusive
        (saoPaulo, "2025-01-11T15:00:00Z", false),  // Sat 12:00
        (saoPaulo, "2025-01-11T01:00:00Z", false),  // Fri 22:00 local (Sat 01:00 UTC)
        (night, "2025-01-10T21:30:00Z", true),      // Fri 22:30 in Madrid (UTC+1)
        (night, "2025-01-11T04:30:00Z", true),      // Sat 05:30 in Madrid: the Friday night window
        (night, "2025-01-11T05:30:00Z", false),     // Sat 06:30
        (night, "2025-01-11T21:30:00Z", false),     // Sat 22:30: Saturday is not a working night
        (night, "2025-01-10T04:30:00Z", false),     // Fri 05:30: belongs to Thursday's night
        (allDay, "2025-01-12T23:59:00Z", true),     // Sun 23:59 with end 24:00
        (allDay, "2025-01-13T00:00:00Z", false),    // Mon 00:00
    ])
    func workingHours(_ hours: WorkingHours, _ iso: String, _ inside: Bool) {
        #expect(hours.contains(F.date(iso)) == inside)
    }

    @Test("Summer time is honoured")
    func daylightSaving() {
        let madrid = WorkingHours(timeZone: "Europe/Madrid", days: [.monday], start: "09:00", end: "10:00")
        #expect(madrid.contains(F.date("2025-01-13T08:30:00Z")))   // winter: UTC+1
        #expect(!madrid.contains(F.date("2025-07-07T08:30:00Z")))  // summer: UTC+2, 10:30 local
        #expect(madrid.contains(F.date("2025-07-07T07:30:00Z")))
    }

    @Test("Broken settings contain nothing")
    func brokenHours() {
        #expect(!WorkingHours(timeZone: "Nowhere/Void", days: [.monday], start: "09:00", end: "18:00").contains(F.t0))
        #expect(!WorkingHours(timeZone: "UTC", days: [.monday], start: "25:00", end: "18:00").contains(F.t0))
        #expect(!WorkingHours(timeZone: "UTC", days: [.monday], start: "12:00", end: "12:00").contains(F.t0))
    }
}
