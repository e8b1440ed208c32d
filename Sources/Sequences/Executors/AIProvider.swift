import Basics
import Domain
import Foundation
import Logging

// MARK: - Scripts and conversation

/// The phase of a sale a script is written for.
package enum ScriptType: String, Sendable, Hashable, Codable, CaseIterable {
    /// First words to a new lead.
    case greeting
    /// Questions that find out what the lead needs.
    case qualification
    /// The offer: product, price, terms.
    case presentation
    /// An answer to a stated objection ("too expensive", "not now").
    case objectionHandling = "objection_handling"
    /// Asking for the decision.
    case closing
}

/// One version of one of the agent's sales scripts, as rules-service hands it to the executor.
package struct SalesScript: Sendable, Hashable {
    /// The script id.
    package var id: String
    /// The version; the highest version of an id is the one in force.
    package var version: Int
    /// The phase it serves.
    package var type: ScriptType
    /// A name for operators.
    package var name: String
    /// The text, a template (`{{contact.first_name|there}}`).
    package var body: String
    /// Phrases of the lead that call for this script (mainly for objection handling); matched ignoring
    /// case and accents, on word boundaries.
    package var triggerPhrases: [String]
    /// The pipeline stage the script belongs to; `nil` for any stage.
    package var stageID: Int64?
    /// The language the script is written in (a tag such as `es`); `nil` when it does not say.
    package var language: String?

    /// Creates a script version.
    package init(id: String, version: Int = 1, type: ScriptType, name: String = "", body: String,
                 triggerPhrases: [String] = [], stageID: Int64? = nil, language: String? = nil) {
        self.id = id
        self.version = version
        self.type = type
        self.name = name
        self.body = body
        self.triggerPhrases = triggerPhrases
        self.stageID = stageID
        self.language = language.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// One message of the conversation with the lead.
package struct ConversationTurn: Sendable, Hashable {
    /// Who wrote it.
    package enum Author: String, Sendable, Hashable {
        /// The lead (an inbound message).
        case lead
        /// The agent or a manager (an outbound message).
        case agent
    }

    /// Who wrote it.
    package var author: Author
    /// The text.
    package var text: String

    /// Creates a turn.
    package init(_ author: Author, _ text: String) {
        self.author = author
        self.text = text
    }
}

/// A chunk of the agent's knowledge base found for the client's message, with where it comes from.
package struct KnowledgeSource: Sendable, Hashable {
    package var documentID: String
    package var title: String
    /// The document version the chunk was cut from.
    package var version: Int64
    /// The chunk's position in its document, from 0.
    package var chunk: Int
    package var heading: String
    package var text: String
    /// The share (0…1) of the message's significant words the chunk holds.
    package var coverage: Double

    package init(documentID: String, title: String, version: Int64, chunk: Int, heading: String, text: String, coverage: Double) {
        self.documentID = documentID; self.title = title; self.version = version; self.chunk = chunk
        self.heading = heading; self.text = text; self.coverage = coverage
    }

    /// How the action log names it: `kno_… v2 #0`.
    package var reference: String { "\(documentID) v\(version) #\(chunk)" }
}

/// What an AI provider is asked: who the agent is, its scripts, where the lead stands.
package struct AIReplyRequest: Sendable, Hashable {
    /// The agent's display name (also `{{agent.name}}` in scripts).
    package var agentName: String
    /// The agent's persona and rules, written by the tenant.
    package var persona: String
    /// The agent's scripts (all versions it has; the latest of each id is used).
    package var scripts: [SalesScript]
    /// The conversation so far, oldest first; possibly only its recent part.
    package var conversation: [ConversationTurn]
    /// Inbound messages in the whole conversation (may exceed those in ``conversation``).
    package var inboundCount: Int
    /// Outbound messages in the whole conversation.
    package var outboundCount: Int
    /// The lead's stage (Kommo status id).
    package var stageID: Int64?
    /// Values for the scripts' placeholders (lead, contact, manager…).
    package var values: TemplateValues
    /// Extra guidance from the action (`instructions`), already rendered.
    package var instructions: String?
    /// A script the action asked for (`script_id`); used when it exists.
    package var requestedScriptID: String?
    /// The language to reply in (a tag such as `es` or `pt-BR`): the agent's, or the lead's as detected;
    /// `nil` when neither is known.
    package var language: String?
    /// The chunks of the agent's knowledge base found for the client's latest messages, best first.
    package var knowledge: [KnowledgeSource]
    /// The significant words those messages were reduced to for the search.
    package var knowledgeTerms: [String]
    /// The OpenAI-compatible `tools` the model may call (the agent's `ai_actions`); empty for none.
    /// Providers that cannot call tools ignore them.
    package var tools: [JSONValue]
    /// The longest reply in tokens the agent allows (`replies.max_tokens`); the provider's setting when `nil`.
    package var maxTokens: Int?

    /// Creates a request; the counts default to those of `conversation`.
    package init(agentName: String, persona: String = "", scripts: [SalesScript], conversation: [ConversationTurn],
                 inboundCount: Int? = nil, outboundCount: Int? = nil, stageID: Int64? = nil,
                 values: TemplateValues = TemplateValues(), instructions: String? = nil, requestedScriptID: String? = nil,
                 language: String? = nil, knowledge: [KnowledgeSource] = [], knowledgeTerms: [String] = [], tools: [JSONValue] = [],
                 maxTokens: Int? = nil) {
        self.tools = tools
        self.maxTokens = maxTokens
        self.knowledge = knowledge
        self.knowledgeTerms = knowledgeTerms
        self.agentName = agentName
        self.persona = persona
        self.scripts = scripts
        self.conversation = conversation
        self.inboundCount = inboundCount ?? conversation.filter { $0.author == .lead }.count
        self.outboundCount = outboundCount ?? conversation.filter { $0.author == .agent }.count
        self.stageID = stageID
        self.values = values
        self.instructions = instructions
        self.requestedScriptID = requestedScriptID
        self.language = language
    }

    /// Whether `script` may be used for a reply in ``language``: a script that declares another language
    /// may not; one that declares none may.
    package func speaksLanguage(_ script: SalesScript) -> Bool {
        guard let language, let own = script.language else { return true }
        return LanguageGuess.primaryTag(own) == LanguageGuess.primaryTag(language)
    }

    /// The text of the latest inbound message.
    package var lastInboundText: String? {
        conversation.last { $0.author == .lead }?.text
    }


    /// The latest version of each script id, in the order ids first appear.
    package var currentScripts: [SalesScript] {
        var latest: [String: SalesScript] = [:]
        var order: [String] = []
        for script in scripts {
            if let known = latest[script.id] {
                if script.version > known.version { latest[script.id] = script }
            } else {
                latest[script.id] = script
                order.append(script.id)
            }
        }
        return order.compactMap { latest[$0] }
    }

    /// The values scripts are rendered with: ``values`` plus `agent.name`.
    package var renderValues: TemplateValues {
        var own = TemplateValues()
        own[TemplateVocabulary.agentName] = agentName
        return own.merging(values)
    }
}

// MARK: - Reply

/// What an AI provider answered.
package struct AIReply: Sendable, Hashable {
    /// The reply text; `nil` when blocked or failed.
    package var text: String?
    /// Why no reply may be sent (e.g. a required placeholder has no value); `nil` otherwise.
    package var blockedReason: String?
    /// The script the reply follows, when the provider used one.
    package var scriptID: String?
    /// That script's version.
    package var scriptVersion: Int?
    /// Why that script was chosen (`requested`, `first_contact`, `objection`, `trigger_phrase`, `price_question`,
    /// `needs_question`, `stage`, `fallback`).
    package var selection: String?
    /// The attempt for the action log (`ai.template` or `ai.openai`), with token usage for LLM calls.
    package var result: ExecutionResult
    /// The knowledge chunks the reply was written from: the one quoted (template) or those in the prompt.
    package var knowledgeUsed: [KnowledgeSource] = []
    /// The tools the model called, in order, as it wrote them (checked by the executor, not here).
    package var toolCalls: [AIToolCall] = []

    /// Creates a reply.
    package init(text: String? = nil, blockedReason: String? = nil, scriptID: String? = nil, scriptVersion: Int? = nil,
                 selection: String? = nil, result: ExecutionResult) {
        self.text = text
        self.blockedReason = blockedReason
        self.scriptID = scriptID
        self.scriptVersion = scriptVersion
        self.selection = selection
        self.result = result
    }

    /// Whether the reply is blocked rather than written.
    package var isBlocked: Bool { blockedReason != nil }
}

// MARK: - Provider

/// Writes the agent's next chat message.
///
/// Implementations never throw; failures are in ``AIReply/result``. The caller sends ``AIReply/text``
/// through ``ChatSender`` when present, and records the result either way.
package protocol AIProvider: Sendable {
    /// The next message for the lead described by `request`.
    func reply(to request: AIReplyRequest, logger: Logger) async -> AIReply
}
