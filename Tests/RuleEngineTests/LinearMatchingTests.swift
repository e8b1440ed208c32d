import Domain
@testable import RuleEngine
import Foundation
import Testing

@Suite("Matching that no input can make slow")
struct LinearMatchingTests {
    /// Patterns that backtrack exponentially (or polynomially) in a backtracking engine.
    static let hostile = [#"(a|a)*b"#, #"(a?){30}a{30}"#, #"\w*\w*\w*\w*\w*x"#]

    @Test("Hostile patterns match a 4 KiB message in under 1 ms (best of 5)", arguments: hostile)
    func hostilePatternsAreLinear(_ source: String) throws {
        let pattern = try BoundedPattern(source)
        let prepared = BoundedPattern.prepare(String(repeating: "a", count: 4096))
        var best = Duration.seconds(1)
        for _ in 0..<5 {
            let clock = ContinuousClock()
            let elapsed = clock.measure { _ = pattern.matches(prepared: prepared) }
            best = min(best, elapsed)
        }
        print("pattern \(source): best of 5 on 4 KiB = \(best)")
        #expect(best < .milliseconds(1))
    }

    @Test("A backreference is refused with a field error at the pattern's path")
    func backreferenceRefused() {
        var rule = RuleFixture.rule("r", conditions: .all([.messageText(.init(op: .containsAny, keywords: ["x"])),
                                                 .messageText(.init(op: .matches, pattern: #"(\w+) \1"#))]))
        let problems = rule.validate()
        #expect(problems.contains { $0.field == "conditions.all[1].pattern" && $0.message.contains("backreferences") })
        rule.conditions = .messageText(.init(op: .matches, pattern: "(?=a)b"))
        #expect(rule.validate().contains { $0.field == "conditions.pattern" })
    }

    @Test("80,000 keywords are refused at the keyword list's path")
    func keywordLimit() {
        let keywords = (0..<80_000).map { "word\($0)" }
        let rule = RuleFixture.rule("r", conditions: .all([.stageIs(.init(stageIDs: [1])),
                                                 .any([.messageText(.init(op: .containsAny, keywords: keywords))])]))
        let problems = rule.validate()
        #expect(problems.contains { $0.field == "conditions.all[1].any[0].keywords" && $0.message.contains("the limit is \(Limits.keywordItems)") })
    }

    @Test("A rule that exceeds the evaluation budget is reported as budget_exceeded; the next rule still runs")
    func budgetExceeded() {
        let keywords = (0..<80_000).map { "palavra\($0)" }
        let hostile = RuleFixture.rule("hostile", conditions: .messageText(.init(op: .containsAny, keywords: keywords)), priority: 10)
        let honest = RuleFixture.rule("honest", conditions: .messageText(.init(op: .containsAny, keywords: ["preco"])), priority: 1)
        let decision = RuleFixture.evaluate(RuleFixture.message(String(repeating: "qual o preço ", count: 300)), rules: [hostile, honest])
        let byID = Dictionary(uniqueKeysWithValues: decision.explanations.map { ($0.ruleID, $0) })
        #expect(byID["hostile"]?.outcome == .budgetExceeded)
        #expect(byID["hostile"]?.detail.contains("work units") == true)
        #expect(byID["honest"]?.outcome == .fired)
    }
}
