import TestSupport
import AsyncHTTPClient
import Domain
import Foundation
import Hummingbird
import MetricsTestKit
import Sequences
import Synchronization
import Testing

// MARK: - Fixtures

private let stage = Int64(501)

private let scripts: [SalesScript] = [
    SalesScript(id: "greet", version: 1, type: .greeting, body: "Hi {{contact.first_name|there}}, I'm {{agent.name}}!"),
    SalesScript(id: "greet", version: 2, type: .greeting, body: "Hello {{contact.first_name|there}}, {{agent.name}} here."),
    SalesScript(id: "qualify", type: .qualification, body: "What are you looking for, {{contact.first_name}}?"),
    SalesScript(id: "offer", type: .presentation, body: "Our plan for {{lead.name}} costs {{lead.price|a fair price}}.",
                stageID: stage),
    SalesScript(id: "too-expensive", version: 3, type: .objectionHandling, body: "I understand. We can split it in 3.",
                triggerPhrases: ["too expensive", "muito caro"]),
    SalesScript(id: "close", type: .closing, body: "Shall I send the contract?", stageID: 999),
    SalesScript(id: "other-stage-objection", type: .objectionHandling, body: "Not for this stage.",
                triggerPhrases: ["later"], stageID: 999),
]

private func request(_ conversation: [ConversationTurn], stageID: Int64? = stage, values: TemplateValues = ["contact.name": "Maria Silva"],
                     scripts: [SalesScript] = scripts, requested: String? = nil) -> AIReplyRequest {
    AIReplyRequest(agentName: "Ana", persona: "You are Ana, a friendly agent of Acme.", scripts: scripts,
                   conversation: conversation, stageID: stageID, values: values, requestedScriptID: requested)
}

@Suite("TemplateAIProvider")
struct TemplateAIProviderTests {
    let provider = TemplateAIProvider()

    @Test("first contact gets the latest greeting, rendered")
    func firstContact() async {
        let reply = await provider.reply(to: request([ConversationTurn(.lead, "oi")]), logger: quietLogger)
        #expect(reply.text == "Hello Maria, Ana here.")
        #expect(reply.scriptID == "greet")
        #expect(reply.scriptVersion == 2)
        #expect(reply.selection == "first_contact")
        #expect(reply.result.outcome == .succeeded)
        #expect(reply.result.operation == "ai.template")
    }

    @Test("an objection trigger phrase matches ignoring case and accents")
    func objection() async {
        let conversation = [ConversationTurn(.lead, "Oi"), ConversationTurn(.agent, "Olá!"), ConversationTurn(.lead, "Achei MUITO CARÓ, sinceramente")]
        let reply = await provider.reply(to: request(conversation), logger: quietLogger)
        #expect(reply.scriptID == "too-expensive")
        #expect(reply.scriptVersion == 3)
        #expect(reply.selection == "objection")
        #expect(reply.text == "I understand. We can split it in 3.")
    }

    @Test("a price question gets the presentation; a needs statement the qualification")
    func questions() async {
        let base = [ConversationTurn(.lead, "hello"), ConversationTurn(.agent, "Hi!")]
        let price = await provider.reply(to: request(base + [ConversationTurn(.lead, "Qual o preço?")],
                                                     values: ["contact.name": "Maria", "lead.name": "Acme deal"]), logger: quietLogger)
        #expect(price.scriptID == "offer")
        #expect(price.selection == "price_question")
        #expect(price.text == "Our plan for Acme deal costs a fair price.")

        let needs = await provider.reply(to: request(base + [ConversationTurn(.lead, "I need a CRM for 5 people")]), logger: quietLogger)
        #expect(needs.scriptID == "qualify")
        #expect(needs.selection == "needs_question")
        #expect(needs.text == "What are you looking for, Maria?")

        // Whole words only: "explain" contains "plan" but is not about price.
        let other = await provider.reply(to: request(base + [ConversationTurn(.lead, "explain again")], stageID: nil), logger: quietLogger)
        #expect(other.selection == "fallback")
        #expect(other.scriptID == "qualify")
    }

    @Test("otherwise the script bound to the lead's stage; scripts of other stages are never used")
    func stageBinding() async {
        let conversation = [ConversationTurn(.lead, "hello"), ConversationTurn(.agent, "Hi!"), ConversationTurn(.lead, "ok, later")]
        let reply = await provider.reply(to: request(conversation, values: ["contact.name": "M", "lead.name": "D", "lead.price": "100"]),
                                         logger: quietLogger)
        #expect(reply.scriptID == "offer", "the 'later' objection belongs to stage 999")
        #expect(reply.selection == "stage")
        #expect(reply.text == "Our plan for D costs 100.")
    }

    @Test("a missing required value blocks the reply with the reason")
    func blocked() async {
        let conversation = [ConversationTurn(.lead, "hi"), ConversationTurn(.agent, "Hello"), ConversationTurn(.lead, "I want to know more")]
        let reply = await provider.reply(to: request(conversation, values: [:]), logger: quietLogger)
        #expect(reply.text == nil)
        #expect(reply.isBlocked)
        #expect(reply.scriptID == "qualify")
        #expect(reply.blockedReason?.contains("{{contact.first_name}}") == true)
        #expect(reply.result.outcome == .skipped)
    }

    @Test("a requested script wins; no usable script blocks")
    func requestedAndNone() async {
        let requested = await provider.reply(to: request([ConversationTurn(.lead, "hi")], requested: "close"), logger: quietLogger)
        #expect(requested.scriptID == "close")
        #expect(requested.selection == "requested")
        let none = await provider.reply(to: request([ConversationTurn(.lead, "x"), ConversationTurn(.agent, "y")], stageID: 7,
                                                    scripts: [scripts[5]]), logger: quietLogger)
        #expect(none.isBlocked)
        #expect(none.scriptID == nil)
    }
}

// MARK: - OpenAI-compatible endpoint

@Suite("OpenAIProvider against an LLM emulator")
struct OpenAIProviderTests {
    private func withLLM(metrics: ExecutorMetrics = ExecutorMetrics(),
                         _ body: (OpenAIEmulator, OpenAIProvider, (String) -> OpenAIProvider) async throws -> Void) async throws {
        let llm = OpenAIEmulator(defaultReply: "  Claro, Maria! Posso te mostrar o plano.  ")
        try await withTestServer(llm.handle) { port in
            try await withHTTPClient { http in
                func provider(key: String) -> OpenAIProvider {
                    OpenAIProvider(egress: http, configuration: .init(
                        baseURL: "http://127.0.0.1:\(port)/", apiKey: key, model: "gpt-test", temperature: 0.3,
                        retry: fastRetry, requestTimeout: .seconds(5)), metrics: metrics)
                }
                try await body(llm, provider(key: llm.apiKey), provider(key:))
            }
        }
    }

    @Test("sends persona, stage scripts and the conversation; records token usage")
    func messagesAndUsage() async throws {
        try await withLLM { llm, provider, _ in
            let conversation = [ConversationTurn(.lead, "Oi, quanto custa?"), ConversationTurn(.agent, "Olá! Para quantas pessoas?"),
                                ConversationTurn(.lead, "5 pessoas")]
            var ask = request(conversation, values: ["contact.name": "Maria", "lead.name": "Acme"])
            ask.instructions = "Be brief."
            let reply = await provider.reply(to: ask, logger: quietLogger)
            #expect(reply.text == "Claro, Maria! Posso te mostrar o plano.")
            #expect(reply.result.outcome == .succeeded)
            #expect(reply.result.usage == TokenUsage(promptTokens: 321, completionTokens: 12, totalTokens: 333))
            #expect(reply.result.target == "POST /v1/chat/completions")
            #expect(!"\(reply.result)".contains(llm.apiKey))

            #expect(llm.violations.isEmpty)
            let body = try #require(llm.chats.first?.body)
            #expect(body["model"]?.string == "gpt-test")
            #expect(body["temperature"] == .double(0.3))
            let messages = body["messages"]?.array ?? []
            #expect(messages.map { $0["role"]?.string ?? "" } == ["system", "user", "assistant", "user"])
            #expect(messages.dropFirst().map { $0["content"]?.string ?? "" } == conversation.map(\.text))
            let system = messages.first?["content"]?.string ?? ""
            #expect(system.contains("You are Ana, a friendly agent of Acme."))
            #expect(system.contains("Be brief."))
            #expect(system.contains("Our plan for Acme costs a fair price."), "stage scripts are rendered into the prompt")
            #expect(system.contains("Hello Maria, Ana here."), "the latest version of a script is used")
            #expect(!system.contains("Hi Maria, I'm Ana!"), "older versions are not")
            #expect(!system.contains("Shall I send the contract?"), "scripts of other stages are left out")
        }
    }

    @Test("a script that does not parse goes to the model as written, and is counted")
    func unparsableScript() async throws {
        let metrics = TestMetrics()
        try await withLLM(metrics: ExecutorMetrics(factory: metrics)) { llm, provider, _ in
            let broken = SalesScript(id: "broken", type: .greeting, body: "Hi {{contact.first_name")
            let reply = await provider.reply(to: request([ConversationTurn(.lead, "hi")], scripts: [broken]), logger: quietLogger)
            #expect(reply.result.outcome == .succeeded)
            let system = try #require(llm.chats.first).system
            #expect(system.contains("Hi {{contact.first_name"), "\(system)")
            #expect(try metrics.expectCounter(ExecutorMetrics.stepFailures, [("step", "script_template")]).totalValue == 1)
        }
    }

    @Test("5xx and 429 are retried")
    func retries() async throws {
        try await withLLM { llm, provider, _ in
            llm.enqueue(statuses: 503, 429)
            let reply = await provider.reply(to: request([ConversationTurn(.lead, "hi")]), logger: quietLogger)
            #expect(reply.text != nil)
            #expect(reply.result.attempts == 3)
            #expect(llm.received.count == 3)
        }
    }

    @Test("a bad key is permanent and carries the endpoint's error")
    func badKey() async throws {
        try await withLLM { llm, _, makeProvider in
            let reply = await makeProvider("sk-wrong").reply(to: request([ConversationTurn(.lead, "hi")]), logger: quietLogger)
            #expect(reply.text == nil)
            #expect(reply.result.outcome == .failedPermanent)
            #expect(reply.result.attempts == 1)
            #expect(reply.result.problem?.detail == "Incorrect API key provided")
            #expect(llm.received.count == 1)
            #expect(llm.violations == ["Incorrect API key provided"])
        }
    }
}
