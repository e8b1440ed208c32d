import Basics
import Foundation
import ServiceKit
import Testing
import Wire

@Suite("rules-service analytics counters")
struct RulesAnalyticsCountersTests {
    /// The tenant's counters over the hours around the manual clock's start, as key → value (agents summed).
    static func counters(_ tenant: Tenant, agent: String = "", from: Int64, to: Int64) async throws -> [String: Int64] {
        var query = PB.AnalyticsQuery()
        query.fromHour = from
        query.toHour = to
        query.agentId = agent
        let answer = try await tenant.client.analyticsCounters(query, options: tenant.options)
        return answer.counts.reduce(into: [:]) { $0[$1.key, default: 0] += $1.value }
    }

    @Test("an event evaluated twice counts once per rule and outcome, by hour and agent, for its tenant only")
    func evaluatedOnce() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let other = try await acme.createAgent(#"{"name": "Other"}"#)
            let rule = try await acme.createRule(stageRule(extra: #""max_fires_per_lead": 1"#), agent: agent.id)
            let hour = AnalyticsCounters.hour(micros: service.clock.now().unixMicros)

            let event = Events.stageChanged("evt-1", at: service.clock.now())
            _ = try await acme.evaluate(event)
            // A retried Evaluate of the same event answers the stored decision and counts nothing.
            _ = try await acme.evaluate(event)
            service.clock.advance(by: 3_600)
            _ = try await acme.evaluate(Events.stageChanged("evt-2", at: service.clock.now()))

            let all = try await Self.counters(acme, from: hour - 1, to: hour + 3)
            #expect(all == ["rules.evaluated": 2, "rule.\(rule.id).fired": 1, "rule.\(rule.id).max_fires": 1])
            // Hours are kept apart: the first hour holds only the first event.
            #expect(try await Self.counters(acme, from: hour, to: hour + 1) == ["rules.evaluated": 1, "rule.\(rule.id).fired": 1])
            // By agent: the rule's agent has its outcomes; another agent has none.
            #expect(try await Self.counters(acme, agent: agent.id, from: hour, to: hour + 2) == ["rule.\(rule.id).fired": 1, "rule.\(rule.id).max_fires": 1])
            #expect(try await Self.counters(acme, agent: other.id, from: hour, to: hour + 2).isEmpty)
            // Another tenant sees none of it.
            #expect(try await Self.counters(service.tenant("t_other"), from: hour - 1, to: hour + 3).isEmpty)

            let backwards = await rpcError { try await Self.counters(acme, from: hour, to: hour - 1) }
            #expect(backwards?.code == .invalidArgument)
            let tooLong = await rpcError { try await Self.counters(acme, from: hour, to: hour + AnalyticsCounters.maximumHours + 1) }
            #expect(tooLong?.code == .invalidArgument)
        }
    }
}
