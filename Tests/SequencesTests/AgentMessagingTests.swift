import Basics
import Domain
import Foundation
import Logging
import ServiceKit
import Testing
import Wire

@testable import Sequences

@Suite("Reply language")
struct LanguageGuessTests {
    @Test("scripts decide first: Cyrillic, kana, Han, Hangul, Arabic; Ukrainian by its own letters")
    func scripts() {
        let russian = LanguageGuess.detect(["Здравствуйте, сколько стоит квартира?"])
        #expect(russian == "ru")
        let ukrainian = LanguageGuess.detect(["Добрий день, скільки коштує ця квартира? Її ще продають?"])
        #expect(ukrainian == "uk")
        let japanese = LanguageGuess.detect(["この部屋はまだ空いていますか"])
        #expect(japanese == "ja")
        let chinese = LanguageGuess.detect(["这个房子多少钱"])
        #expect(chinese == "zh")
        let korean = LanguageGuess.detect(["안녕하세요 가격이 얼마예요"])
        #expect(korean == "ko")
        let arabic = LanguageGuess.detect(["مرحبا كم السعر"])
        #expect(arabic == "ar")
    }

    @Test("Latin script by stop words and marker letters; nothing to go on gives no guess")
    func latin() {
        let spanish = LanguageGuess.detect(["Hola, ¿cuánto cuesta el apartamento?"])
        #expect(spanish == "es")
        let portuguese = LanguageGuess.detect(["Olá, quanto custa? Não tenho pressa."])
        #expect(portuguese == "pt")
        let english = LanguageGuess.detect(["Hi, is the flat still available? What is the price?"])
        #expect(english == "en")
        let german = LanguageGuess.detect(["Hallo, wie viel kostet die Wohnung?"])
        #expect(german == "de")
        let french = LanguageGuess.detect(["Bonjour, combien coûte l'appartement ? Merci"])
        #expect(french == "fr")
        let nothing = LanguageGuess.detect(["ok 👍", "123"])
        #expect(nothing == nil)
        let empty = LanguageGuess.detect([])
        #expect(empty == nil)
        let several = LanguageGuess.detect(["Hi there", "Hola, ¿qué tal? Quiero saber el precio, por favor"])
        #expect(several == "es")
    }

    @Test("the prompt names the language; the agent's fixed language beats the lead's")
    func prompt() {
        var ask = AIReplyRequest(agentName: "Sofia", scripts: [], conversation: [ConversationTurn(.lead, "Hola")], language: "pt-BR")
        let messages = OpenAIProvider.messages(for: ask, maxTurns: 4)
        let system = messages.first?.content ?? ""
        #expect(system.contains("Write the reply in Portuguese (pt-BR)."))
        ask.language = nil
        let plain = OpenAIProvider.messages(for: ask, maxTurns: 4).first?.content ?? ""
        #expect(!plain.contains("Write the reply in"))
        let turns = [ConversationTurn(.lead, "Hola, ¿cuánto cuesta?")]
        let fixed = AIReplyExecutor.replyLanguage(agent: "en", conversation: turns)
        #expect(fixed == "en")
        let auto = AIReplyExecutor.replyLanguage(agent: "auto", conversation: turns)
        #expect(auto == "es")
        let empty = AIReplyExecutor.replyLanguage(agent: "", conversation: turns)
        #expect(empty == "es")
    }

    @Test("the template provider chooses among scripts by language: the reply's first, then those that declare none")
    func scriptsByLanguage() async {
        let scripts = [
            SalesScript(id: "q-en", type: .qualification, body: "What budget do you have in mind?", language: "en"),
            SalesScript(id: "q-es", type: .qualification, body: "¿Qué presupuesto tiene?", language: "es"),
            SalesScript(id: "q-any", type: .qualification, body: "Budget?"),
        ]
        let conversation = [ConversationTurn(.agent, "Hi"), ConversationTurn(.lead, "ok"), ConversationTurn(.lead, "so")]
        let spanish = AIReplyRequest(agentName: "Sofia", scripts: scripts, conversation: conversation, language: "es-MX")
        let chosen = TemplateAIProvider.select(for: spanish)?.0.id
        #expect(chosen == "q-es")
        let german = AIReplyRequest(agentName: "Sofia", scripts: scripts, conversation: conversation, language: "de")
        let neutral = TemplateAIProvider.select(for: german)?.0.id
        #expect(neutral == "q-any")
        let unknown = AIReplyRequest(agentName: "Sofia", scripts: scripts, conversation: conversation)
        let first = TemplateAIProvider.select(for: unknown)?.0.id
        #expect(first == "q-en")
        let onlyEnglish = AIReplyRequest(agentName: "Sofia", scripts: [scripts[0]], conversation: conversation, language: "es")
        let none = TemplateAIProvider.select(for: onlyEnglish)
        #expect(none == nil)
    }
}

@Suite("Pause on a human reply")
struct AgentMessagingTests {
    static func agent(after seconds: Int64 = 600, stages: [Int64] = [], stage: Int64 = 0, enteredAt: Int64 = 0) -> PB.AgentContext {
        var agent = PB.AgentContext()
        agent.pauseOnHumanReply = true
        agent.resumeAfterSeconds = seconds
        agent.resumeStageIds = stages
        agent.statusId = stage
        agent.stageEnteredAtMicros = enteredAt
        return agent
    }

    static let repliedAt = Date(timeIntervalSince1970: 1_764_072_000)

    static func reply(resumedAt: Int64? = nil) -> HumanReply {
        HumanReply(repliedAt: repliedAt.unixMicros, manager: "Ana Torres", eventID: "ev_1", resumedAt: resumedAt)
    }

    @Test("held until the quiet time after the manager's message, then not")
    func quietTime() throws {
        let during = try #require(AgentMessaging.hold(agent: Self.agent(), reply: Self.reply(), now: Self.repliedAt.addingTimeInterval(599)))
        #expect(during.detail.hasPrefix(AgentMessaging.pausedDetail))
        #expect(during.detail.contains("Ana Torres"))
        #expect(during.until == Self.repliedAt.addingTimeInterval(600))
        let after = AgentMessaging.hold(agent: Self.agent(), reply: Self.reply(), now: Self.repliedAt.addingTimeInterval(600))
        #expect(after == nil)
    }

    @Test("no quiet time: held until resumed by hand, or by entering a resume stage after the reply")
    func manualAndStage() throws {
        let later = Self.repliedAt.addingTimeInterval(86_400 * 30)
        let manual = try #require(AgentMessaging.hold(agent: Self.agent(after: 0), reply: Self.reply(), now: later))
        #expect(manual.until == nil)
        let resumed = AgentMessaging.hold(agent: Self.agent(after: 0), reply: Self.reply(resumedAt: Self.repliedAt.unixMicros + 1), now: later)
        #expect(resumed == nil)
        let entered = Self.repliedAt.unixMicros + 5_000_000
        let onStage = AgentMessaging.hold(agent: Self.agent(after: 0, stages: [61_234_503], stage: 61_234_503, enteredAt: entered),
                                          reply: Self.reply(), now: later)
        #expect(onStage == nil)
        // In the resume stage already before the manager wrote: the reply still pauses.
        let before = AgentMessaging.hold(agent: Self.agent(after: 0, stages: [61_234_503], stage: 61_234_503, enteredAt: entered - 10_000_000),
                                         reply: Self.reply(), now: later)
        #expect(before != nil)
        var off = Self.agent()
        off.pauseOnHumanReply = false
        let disabled = AgentMessaging.hold(agent: off, reply: Self.reply(), now: Self.repliedAt)
        #expect(disabled == nil)
        let noReply = AgentMessaging.hold(agent: Self.agent(), reply: nil, now: Self.repliedAt)
        #expect(noReply == nil)
    }

    @Test("channels: another origin gets no reply, with the reason; no channels or no origin answers")
    func channels() {
        let refused = AgentMessaging.channelRefusal(channels: ["waba", "telegram"], origin: "instagram")
        #expect(refused == "not answered: the lead wrote on instagram; the agent answers on waba, telegram")
        let allowed = AgentMessaging.channelRefusal(channels: ["WABA"], origin: "waba")
        #expect(allowed == nil)
        let everywhere = AgentMessaging.channelRefusal(channels: [], origin: "instagram")
        #expect(everywhere == nil)
        let unknown = AgentMessaging.channelRefusal(channels: ["waba"], origin: "")
        #expect(unknown == nil)
    }

    @Test("a Chats API body signature is HMAC-SHA1 in lowercase hex")
    func bodySignature() {
        let body = Array("The quick brown fox jumps over the lazy dog".utf8)
        let signature = ChatsAPISignature.bodySignature(body, secret: "key")
        #expect(signature == "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9")
    }
}

@Suite("Outgoing messages in the conversation")
struct OutgoingMessageStoreTests {
    static func sent(_ id: String, text: String, at micros: Int64, kind: PB.MessageAuthorKind, lead: Int64 = 77) -> PB.Event {
        var event = PB.Event()
        event.id = id
        event.tenantId = "t1"
        event.type = .messageSent
        event.leadId = lead
        event.entityType = "message"
        event.occurredAtMicros = micros
        var message = PB.MessageFields()
        message.text = text
        message.direction = .outgoing
        message.authorKind = kind
        message.authorName = kind == .manager ? "Ana Torres" : "Salesbot"
        event.message = message
        return event
    }

    @Test("our own send coming back is matched once and is no human reply; a manager's message is both recorded and a reply")
    func echoesAndManagers() async throws {
        let store = SequenceStore(db: try StoreFactory.temporary(migrator: SequenceStore.migrator))
        let t0: Int64 = 1_764_072_000_000_000
        try await store.recordOutbound(tenantID: "t1", leadID: 77, text: "Thanks Maria! What budget?", at: t0, ref: "action:k1")
        let echo = try await store.firstSight(of: Self.sent("ev_echo", text: "thanks maria!  what budget?", at: t0 + 2_000_000, kind: .bot),
                                              now: t0 + 3_000_000)
        #expect(echo)
        var conversation = try await store.conversation(tenantID: "t1", leadID: 77, limit: 10)
        #expect(conversation.count == 1)
        let noReply = try await store.humanReply(tenantID: "t1", leadID: 77)
        #expect(noReply == nil)

        // The same words again later are not an echo any more: the one send was matched.
        _ = try await store.firstSight(of: Self.sent("ev_bot", text: "Thanks Maria! What budget?", at: t0 + 4_000_000, kind: .bot),
                                       now: t0 + 5_000_000)
        conversation = try await store.conversation(tenantID: "t1", leadID: 77, limit: 10)
        let authors = conversation.map(\.author)
        #expect(authors == ["", "bot"])

        _ = try await store.firstSight(of: Self.sent("ev_ana", text: "Maria, Ana here", at: t0 + 60_000_000, kind: .manager),
                                       now: t0 + 61_000_000)
        let reply = try #require(try await store.humanReply(tenantID: "t1", leadID: 77))
        #expect(reply.repliedAt == t0 + 60_000_000)
        #expect(reply.manager == "Ana Torres")
        #expect(reply.eventID == "ev_ana")
        // An older manager message delivered late does not move the reply back.
        _ = try await store.firstSight(of: Self.sent("ev_old", text: "earlier", at: t0 + 30_000_000, kind: .manager), now: t0 + 62_000_000)
        let still = try await store.humanReply(tenantID: "t1", leadID: 77)
        #expect(still?.eventID == "ev_ana")
        let resumed = try await store.resumeLead(tenantID: "t1", leadID: 77, now: t0 + 70_000_000)
        #expect(resumed == 0)
        let after = try await store.humanReply(tenantID: "t1", leadID: 77)
        #expect(after?.isResumed == true)
    }
}
