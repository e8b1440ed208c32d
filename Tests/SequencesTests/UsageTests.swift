import Basics
import TestSupport
import Foundation
import Hummingbird
import Sequences
import Testing
import Wire

/// The usage ledger: messages sent and AI replies with their tokens, per tenant, summed per day and kind.
@Suite struct UsageTests {
    /// An OpenAI-compatible endpoint answering every completion with 333 tokens of usage.
    @Sendable private static func llm(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try await request.body.collect(upTo: 1 << 20)
        return Reply.json(200, """
            {"id":"chatcmpl-1","object":"chat.completion","model":"test-model",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Happy to help, Maria."},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":321,"completion_tokens":12,"total_tokens":333}}
            """)
    }

    private func usage(_ tenant: TenantCalls, from: Int64? = nil, to: Int64? = nil) async throws -> [String: (units: Int64, entries: Int64, day: String)] {
        var query = PB.DocumentQuery()
        if let from { query.filters.append(PB.KeyValue(key: "from_micros", value: String(from))) }
        if let to { query.filters.append(PB.KeyValue(key: "to_micros", value: String(to))) }
        let page = try await tenant.client.usage(query, options: tenant.options)
        var totals: [String: (units: Int64, entries: Int64, day: String)] = [:]
        for item in page.items {
            let json = try #require(JSONValue(parsing: Array(item.json.utf8)))
            let kind = try #require(json["kind"]?.string)
            totals[kind] = (json["units"]?.int64 ?? -1, json["entries"]?.int64 ?? -1, json["day"]?.string ?? "")
        }
        return totals
    }

    @Test func messagesAndAIRepliesAreCountedOncePerActionWithTheirTokens() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": 77, "name": "Order 77", "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva"])
        try await withTestServer(kommo.handle) { kommoPort in
            try await withTestServer(Self.llm) { llmPort in
                try await SequenceHarness.run { service in
                    let acme = service.tenant("acme")
                    try await acme.updateIntegrations("""
                        {"kommo": {"base_url": "http://127.0.0.1:\(kommoPort)", "access_token": "\(kommo.token)", "rate_limit_per_second": 50},
                         "messages": {"mode": "salesbot_field", "field_id": 880011, "bot_id": 42},
                         "ai": {"provider": "openai", "base_url": "http://127.0.0.1:\(llmPort)", "api_key": "sk-test", "model": "test-model"}}
                        """)
                    let before = Date().unixMicros
                    try await acme.schedule([
                        planned("msg-1", #"{"type": "send_message", "text": "Hello"}"#),
                        planned("msg-2", #"{"type": "send_message", "text": "Hello again"}"#, lead: 77),
                        planned("ai-1", #"{"type": "ai_response"}"#),
                    ])
                    try await eventually("three attempts") {
                        try await acme.actionLog().filter { $0["outcome"]?.string == "succeeded" }.count == 3
                    }
                    // A key already carried out is a duplicate: nothing is sent or counted again.
                    #expect(try await acme.schedule([planned("msg-1", #"{"type": "send_message", "text": "Hello"}"#)]).duplicates == 1)

                    let today = try await usage(acme)
                    #expect(today["message_sent"]?.units == 3)
                    #expect(today["message_sent"]?.entries == 3)
                    #expect(today["ai_reply"]?.units == 1)
                    #expect(today["ai_tokens"]?.units == 333)
                    let day = Date(unixMicros: before).formatted(.iso8601.year().month().day())
                    #expect(today["message_sent"]?.day == day)

                    #expect(try await usage(acme, from: before).count == 3)
                    #expect(try await usage(acme, to: before - 60_000_000).isEmpty)
                    #expect(try await usage(service.tenant("globex")).isEmpty)

                    var bad = PB.DocumentQuery()
                    bad.filters = [PB.KeyValue(key: "since", value: "1")]
                    await #expect(throws: RPCError.self) { try await acme.client.usage(bad, options: acme.options) }
                    bad.filters = [PB.KeyValue(key: "from_micros", value: "9"), PB.KeyValue(key: "to_micros", value: "1")]
                    await #expect(throws: RPCError.self) { try await acme.client.usage(bad, options: acme.options) }
                }
            }
        }
    }
}
