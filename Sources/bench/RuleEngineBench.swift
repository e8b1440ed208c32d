import Domain
import RuleEngine

/// Adapts the engine's benchmark workload for the table.
struct RuleEngineBench {
    let workload: RuleBenchmarkCase
    var eventCount: Int { workload.events.count }
    let matchingRulesPerEvent: Double

    static func make(ruleCount: Int) -> RuleEngineBench {
        let workload = RuleEngine.benchmarkCase(ruleCount: ruleCount)
        // Rules considered per event: those whose trigger the event can match (the engine skips the rest by index).
        let matching = workload.events.map { event in
            workload.engine.evaluate(event: event, rules: workload.rules, agents: workload.agents, facts: workload.facts,
                                     states: [:], ownWrites: [], now: workload.now)
                .explanations.filter { $0.outcome != .triggerMismatch }.count
        }
        return RuleEngineBench(workload: workload, matchingRulesPerEvent: Double(matching.reduce(0, +)) / Double(max(1, matching.count)))
    }

    func run() -> Int { workload.run() }
}
