import Foundation
import NIOHTTP1
import Testing

/// One tenant's hostile rules cost that tenant its own budget, never another tenant's answers: patterns
/// that backtrack exponentially in a backtracking engine are matched in linear time, so a stream of dry
/// runs of them on long messages leaves the rest of the system answering at its normal speed.
@Suite("Hostile rules", .serialized)
struct HostileRulesTests {
    static let patterns = [#"(a|a)*b"#, #"(a?){30}a{30}"#, #"\w*\w*\w*\w*\w*x"#]

    @Test("another tenant is answered normally while one tenant's hostile rules are dry-run over and over")
    func anotherTenantIsNotSlowed() async throws {
        let system = try await FullSystem.make(rateLimit: 10_000)
        try await system.run { client in
            let attacker = try await client.createTenant(admin: system.adminToken, name: "attacker")
            let bystander = try await client.createTenant(admin: system.adminToken, name: "bystander")
            let attackerAgent = try await client.json(.POST, "/api/v1/agents", ["name": "Bot"], token: attacker.key)
            let attackerAgentID = attackerAgent.json["id"] as? String ?? ""
            var ruleIDs: [String] = []
            for (index, pattern) in Self.patterns.enumerated() {
                let rule = try await client.json(.POST, "/api/v1/agents/\(attackerAgentID)/rules", [
                    "name": "Hostile \(index)",
                    "trigger": ["type": "message_received"],
                    "conditions": ["all": [["type": "message_text", "operator": "matches", "pattern": pattern]]],
                    "actions": [["type": "add_note", "text": "matched"]],
                ], token: attacker.key)
                #expect(rule.status == 201, "a linear-time engine takes \(pattern): \(rule.text)")
                ruleIDs.append(rule.json["id"] as? String ?? "")
            }
            let bystanderAgent = try await client.json(.POST, "/api/v1/agents", ["name": "Helper"], token: bystander.key)
            let bystanderAgentID = bystanderAgent.json["id"] as? String ?? ""

            // 75 characters broke the old engine; 4 KiB is the most a message is matched on.
            let message = String(repeating: "a", count: 4_000)
            async let attack: Int = {
                var answered = 0
                for round in 0..<40 {
                    let ruleID = ruleIDs[round % ruleIDs.count]
                    let test = try await client.json(.POST, "/api/v1/agents/\(attackerAgentID)/rules/\(ruleID)/test",
                                                     ["event": ["type": "message_received", "lead_id": "4410021", "text": message]],
                                                     token: attacker.key)
                    if test.status == 200 { answered += 1 }
                }
                return answered
            }()
            var slowest = Duration.zero
            for _ in 0..<20 {
                let started = ContinuousClock.now
                let answer = try await client.request(.GET, "/api/v1/agents/\(bystanderAgentID)", token: bystander.key)
                slowest = max(slowest, ContinuousClock.now - started)
                #expect(answer.status == 200, "\(answer.text)")
            }
            let answered = try await attack
            // Every hostile dry run is answered too: the patterns are matched, not timed out.
            #expect(answered == 40)
            // The old engine made this answer 504 after 5 s; a two-core machine loaded by the whole test run stays below 4 s.
            #expect(slowest < .seconds(4), "slowest bystander answer: \(slowest)")
        }
    }
}
