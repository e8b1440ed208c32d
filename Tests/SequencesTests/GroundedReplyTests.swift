import Domain
import Foundation
import TestSupport
import Testing

@testable import Sequences

@Suite("Replies grounded in the knowledge base")
struct GroundedReplyTests {
    static let delivery = KnowledgeSource(documentID: "kno_faq", title: "FAQ", version: 3, chunk: 1, heading: "Delivery",
                                          text: "Opening hours are 9 to 18. We deliver to Valencia on Tuesdays. Returns take 30 days.",
                                          coverage: 1)
    static let qualify = SalesScript(id: "qualify", type: .qualification, body: "Which size do you need, {{contact.first_name|there}}?")

    static func ask(_ message: String, knowledge: [KnowledgeSource], requested: String? = nil) -> AIReplyRequest {
        AIReplyRequest(agentName: "Ana", scripts: [qualify], conversation: [ConversationTurn(.agent, "Hi!"), ConversationTurn(.lead, message)],
                       values: ["contact.name": "Maria Silva"], requestedScriptID: requested, knowledge: knowledge,
                       knowledgeTerms: KnowledgeQuery.terms(message))
    }

    @Test("the template provider quotes the sentences of a well-matching chunk and names it")
    func templateAnswersFromChunk() async {
        let reply = await TemplateAIProvider().reply(to: Self.ask("Do you deliver to Valencia?", knowledge: [Self.delivery]), logger: quietLogger)
        #expect(reply.text == "We deliver to Valencia on Tuesdays.")
        #expect(reply.knowledgeUsed.map(\.reference) == ["kno_faq v3 #1"])
        #expect(reply.selection == "knowledge")
        #expect(reply.result.requestSummary.contains("knowledge kno_faq v3 #1"))
    }

    @Test("a weak match, no chunk, or a script the action asked for falls back to the scripts")
    func templateFallsBack() async {
        for request in [Self.ask("Do you deliver pianos to Madrid?", knowledge: [Self.delivery]), Self.ask("Nice!", knowledge: []),
                        Self.ask("Do you deliver to Valencia?", knowledge: [Self.delivery], requested: "qualify")] {
            let reply = await TemplateAIProvider().reply(to: request, logger: quietLogger)
            #expect(reply.text == "Which size do you need, Maria?")
            #expect(reply.knowledgeUsed.isEmpty)
        }
    }

    @Test("several quick messages are answered in one reply, each from its own chunk")
    func severalMessages() async {
        let warranty = KnowledgeSource(documentID: "kno_faq", title: "FAQ", version: 3, chunk: 2, heading: "Warranty",
                                       text: "Every oven has a two-year warranty.", coverage: 0.5)
        var request = Self.ask("And the warranty?", knowledge: [Self.delivery, warranty])
        request.conversation = [ConversationTurn(.agent, "Hi!"), ConversationTurn(.lead, "Hello"),
                                ConversationTurn(.lead, "Do you deliver to Valencia?"), ConversationTurn(.lead, "And the warranty?")]
        let reply = await TemplateAIProvider().reply(to: request, logger: quietLogger)
        #expect(reply.text == "We deliver to Valencia on Tuesdays.\n\nEvery oven has a two-year warranty.")
        #expect(reply.knowledgeUsed.map(\.reference) == ["kno_faq v3 #1", "kno_faq v3 #2"])
    }

    @Test("the OpenAI-compatible prompt carries the chunks with their sources")
    func promptCarriesSources() {
        let system = OpenAIProvider.messages(for: Self.ask("Do you deliver to Valencia?", knowledge: [Self.delivery]), maxTurns: 4).first?.content ?? ""
        #expect(system.contains("[1] FAQ — Delivery (source: document kno_faq v3 #1)\nOpening hours are 9 to 18. We deliver to Valencia on Tuesdays."))
        #expect(system.contains("Answer questions from them"))
        let without = OpenAIProvider.messages(for: Self.ask("Hi", knowledge: []), maxTurns: 4).first?.content ?? ""
        #expect(!without.contains("Knowledge base"))
    }
}
