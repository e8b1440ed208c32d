import Foundation
import Testing
import Domain
@testable import RuleEngine

@Suite("Time-based rules")
struct RuleTimerTests {
    typealias F = RuleFixture

    /// "No reply 24 h after entering stage 502 of pipeline 7001."
    static let noReply = F.rule("no-reply", trigger: .timeBased(.stageEntered, after: 86_400, pipelineID: 7001, stageID: 502),
                                actions: [Action(type: .sendMessage, text: "Still interested?")])
    static let day: TimeInterval = 86_400

    @Test("Entering the stage arms a timer keyed by rule and lead, due 24 h later")
    func arming() throws {
        let decision = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.noReply])
        let timer = try #require(decision.timers.first)
        #expect(decision.timers.count == 1)
        #expect(timer.key == "no-reply:1")
        #expect(timer.ruleID == "no-reply")
        #expect(timer.leadID == 1)
        #expect(timer.dueAt == F.t0.addingTimeInterval(Self.day))
        #expect(timer.anchor == .stageEntered)
        #expect(timer.anchorAt == F.t0)
        // The time-based rule is not started by the stage change itself.
        #expect(decision.explanations.isEmpty)
        #expect(decision.actions.isEmpty)
    }

    @Test("Re-entering the stage re-arms the same key with a later due time")
    func rearming() throws {
        let first = F.evaluate(F.stageChange(to: 502, from: 501, id: "e1"), rules: [Self.noReply])
        let away = F.evaluate(F.stageChange(to: 503, from: 502, id: "e2", at: F.t0.addingTimeInterval(3600)), rules: [Self.noReply], facts: first.facts)
        #expect(away.timers.isEmpty)
        #expect(away.cancelledTimers.map(\.key) == ["no-reply:1"])
        let back = F.evaluate(F.stageChange(to: 502, from: 503, id: "e3", at: F.t0.addingTimeInterval(7200)), rules: [Self.noReply], facts: away.facts)
        #expect(back.timers.map(\.key) == ["no-reply:1"])
        #expect(back.timers.first?.dueAt == F.t0.addingTimeInterval(7200 + Self.day))
    }

    @Test("The timer fires the rule 24 h later when nothing happened")
    func firesAfterADay() throws {
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.noReply])
        let due = F.t0.addingTimeInterval(Self.day)
        let fired = F.evaluate(F.timer(rule: "no-reply", at: due), rules: [Self.noReply], facts: entered.facts)
        #expect(try F.outcome(fired, "no-reply").outcome == .fired)
        #expect(fired.actions.map(\.idempotencyKey) == ["evt-timer:no-reply:0"])
        #expect(fired.stateUpdates["no-reply"]?.fireCount == 1)
    }

    @Test("A timer a moment early still counts as due")
    func tolerance() throws {
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.noReply])
        let early = F.t0.addingTimeInterval(Self.day - 0.5)
        let fired = F.evaluate(F.timer(rule: "no-reply", at: early), rules: [Self.noReply], facts: entered.facts)
        #expect(try F.outcome(fired, "no-reply").outcome == .fired)
    }

    @Test("A message in between voids the timer: the message drops it, and if it fires anyway it is explained")
    func replyInBetween() throws {
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.noReply])
        let replied = F.evaluate(F.message("yes, I am", at: F.t0.addingTimeInterval(2 * 3600)), rules: [Self.noReply], facts: entered.facts)
        #expect(replied.cancelledTimers.map(\.key) == ["no-reply:1"])
        #expect(replied.timers.isEmpty)

        let fired = F.evaluate(F.timer(rule: "no-reply", at: F.t0.addingTimeInterval(Self.day)), rules: [Self.noReply], facts: replied.facts)
        let explanation = try F.outcome(fired, "no-reply")
        #expect(explanation.outcome == .timerCancelled)
        #expect(explanation.detail.contains("the lead wrote at 2025-01-06T14:00:00"))
        #expect(fired.actions.isEmpty)
        #expect(fired.stateUpdates.isEmpty)
    }

    @Test("A plain reminder (cancel_on empty) fires even after a message")
    func reminder() throws {
        let reminder = F.rule("reminder", trigger: .timeBased(.stageEntered, after: 3600, cancelOn: []))
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [reminder])
        let replied = F.evaluate(F.message("hi", at: F.t0.addingTimeInterval(60)), rules: [reminder], facts: entered.facts)
        #expect(replied.cancelledTimers.isEmpty)
        let fired = F.evaluate(F.timer(rule: "reminder", at: F.t0.addingTimeInterval(3600)), rules: [reminder], facts: replied.facts)
        #expect(try F.outcome(fired, "reminder").outcome == .fired)
    }

    @Test("No reply to our last message: a later outgoing message moves the anchor and the old timer re-arms")
    func anchorMoved() throws {
        let rule = F.rule("follow-up", trigger: .timeBased(.lastOutbound, after: 86_400))
        let sent = F.evaluate(F.message("our offer", id: "out-1", direction: "outgoing"), rules: [rule])
        #expect(sent.timers.map(\.dueAt) == [F.t0.addingTimeInterval(Self.day)])
        let sentAgain = F.evaluate(F.message("reminder", id: "out-2", at: F.t0.addingTimeInterval(20 * 3600), direction: "outgoing"),
                                   rules: [rule], facts: sent.facts)
        #expect(sentAgain.timers.map(\.dueAt) == [F.t0.addingTimeInterval(44 * 3600)])

        let early = F.evaluate(F.timer(rule: "follow-up", at: F.t0.addingTimeInterval(Self.day)), rules: [rule], facts: sentAgain.facts)
        let explanation = try F.outcome(early, "follow-up")
        #expect(explanation.outcome == .timerNotDue)
        #expect(explanation.until == F.t0.addingTimeInterval(44 * 3600))
        #expect(early.timers.map(\.key) == ["follow-up:1"])
        #expect(early.timers.first?.dueAt == F.t0.addingTimeInterval(44 * 3600))
        #expect(early.actions.isEmpty)
    }

    @Test("A lead that left the stage is a trigger mismatch when the timer comes back")
    func leftTheStage() throws {
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.noReply])
        let moved = F.evaluate(F.stageChange(to: 503, from: 502, id: "e2", at: F.t0.addingTimeInterval(60)), rules: [Self.noReply], facts: entered.facts)
        let fired = F.evaluate(F.timer(rule: "no-reply", at: F.t0.addingTimeInterval(Self.day)), rules: [Self.noReply], facts: moved.facts)
        let explanation = try F.outcome(fired, "no-reply")
        #expect(explanation.outcome == .triggerMismatch)
        #expect(explanation.detail.contains("503"))
    }

    @Test("The condition tree is evaluated when the timer fires")
    func conditionsOnTimer() throws {
        var rule = Self.noReply
        rule.conditions = .fieldValue(.init(field: "price", op: .gte, value: "1000"))
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [rule])
        let fired = F.evaluate(F.timer(rule: "no-reply", at: F.t0.addingTimeInterval(Self.day)), rules: [rule], facts: entered.facts)
        let explanation = try F.outcome(fired, "no-reply")
        #expect(explanation.outcome == .conditionFalse)
        #expect(explanation.failingLeaf?.subject == "price")
    }

    @Test("Disabled time-based rules arm nothing and are explained when an old timer fires")
    func disabledTimers() throws {
        var rule = Self.noReply
        rule.enabled = false
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [rule])
        #expect(entered.timers.isEmpty)
        let fired = F.evaluate(F.timer(rule: "no-reply", at: F.t0.addingTimeInterval(Self.day)), rules: [rule], facts: entered.facts)
        #expect(try F.outcome(fired, "no-reply").outcome == .disabled)
    }

    @Test("Lead creation arms lead_created and stage_entered timers")
    func creationAnchors() throws {
        let rules = [
            F.rule("welcome-late", trigger: .timeBased(.leadCreated, after: 600)),
            F.rule("stuck", trigger: .timeBased(.stageEntered, after: 3600)),
            F.rule("silence", trigger: .timeBased(.lastInbound, after: 3600)),
        ]
        let decision = F.evaluate(F.leadCreated(), rules: rules, facts: nil)
        #expect(Set(decision.timers.map(\.key)) == ["welcome-late:1", "stuck:1"])
    }

    @Test("A timer for an unknown anchor does not fire")
    func unknownAnchor() throws {
        let rule = F.rule("silence", trigger: .timeBased(.lastInbound, after: 3600))
        let decision = F.evaluate(F.timer(rule: "silence", at: F.t0), rules: [rule], facts: F.facts(lastInbound: nil))
        #expect(try F.outcome(decision, "silence").outcome == .timerCancelled)
    }

    @Test("A timer event only evaluates its own rule")
    func timerTargetsOneRule() throws {
        let other = F.rule("other", trigger: .timeBased(.stageEntered, after: 60))
        let entered = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.noReply, other])
        let fired = F.evaluate(F.timer(rule: "no-reply", at: F.t0.addingTimeInterval(Self.day)), rules: [Self.noReply, other], facts: entered.facts)
        #expect(fired.explanations.map(\.ruleID) == ["no-reply"])
    }
}
