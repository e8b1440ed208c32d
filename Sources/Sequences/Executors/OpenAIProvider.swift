import AsyncHTTPClient
import Basics
import Domain
import Foundation
import Logging
import NIOHTTP1

/// An AI provider backed by an OpenAI-compatible chat-completions endpoint (`POST {base}/v1/chat/completions`).
///
/// The system message carries the persona, the action's instructions and the scripts usable at the
/// lead's stage (rendered with defaults, so the model sees names rather than placeholders); the
/// conversation follows as `user` (lead) and `assistant` (agent) messages. Token usage from the answer is
/// recorded in the result for the usage ledger. 429 and 5xx answers and timeouts are retried.
package struct OpenAIProvider: AIProvider {
    /// Where and how to call the endpoint.
    package struct Configuration: Sendable, Hashable, CustomStringConvertible, OutboundSettings {
        /// Scheme and host, e.g. `https://api.openai.com` or a compatible server; `/v1/chat/completions` is appended.
        package var baseURL: String
        /// The API key, sent as `Authorization: Bearer`.
        package var apiKey: String
        /// The model name.
        package var model: String
        /// Sampling temperature; the server's default when `nil`.
        package var temperature: Double?
        /// Longest answer in tokens; the server's default when `nil`.
        package var maxTokens: Int?
        /// Retries of one call.
        package var retry: RetryPolicy
        /// Deadline of one attempt (models can be slow).
        package var requestTimeout: Duration
        /// Largest answer read.
        package var maxResponseBytes: Int
        /// Messages of the conversation sent at most (the most recent ones), bounding prompt size.
        package var maxConversationTurns: Int

        /// Creates a configuration.
        package init(baseURL: String, apiKey: String, model: String, temperature: Double? = nil, maxTokens: Int? = nil,
                     retry: RetryPolicy = RetryPolicy(maxAttempts: 3), requestTimeout: Duration = .seconds(60),
                     maxResponseBytes: Int = 1 << 20, maxConversationTurns: Int = 30) {
            self.baseURL = OutboundHTTP.trimmingTrailingSlashes(baseURL)
            self.apiKey = apiKey
            self.model = model
            self.temperature = temperature
            self.maxTokens = maxTokens
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
            self.maxConversationTurns = maxConversationTurns
        }

        /// Settings with the key redacted.
        package var description: String { "OpenAIProvider.Configuration(\(baseURL), model: \(model), key: <redacted>)" }
    }

    private let configuration: Configuration
    private let http: OutboundHTTP
    private let metrics: ExecutorMetrics

    /// A provider calling the configured endpoint through `egress`, counting its failed steps in `metrics`.
    package init(egress: EgressGate, configuration: Configuration, metrics: ExecutorMetrics = ExecutorMetrics()) {
        self.metrics = metrics
        self.configuration = configuration
        self.http = OutboundHTTP(gate: egress, settings: configuration)
    }

    /// Asks the model for the next message.
    package func reply(to request: AIReplyRequest, logger: Logger) async -> AIReply {
        let path = "/v1/chat/completions"
        let messages = Self.messages(for: request, maxTurns: configuration.maxConversationTurns) { script, error in
            // Scripts are validated when saved; one that does not parse here goes to the model as written.
            var logger = logger
            logger[metadataKey: "script.id"] = "\(script.id)"
            metrics.failed(.scriptTemplate, error: error, logger: logger, level: .warning)
        }
        let summary = "model \(configuration.model), \(messages.count) messages, "
            + "\(Self.scriptsForStage(request).count) scripts, \(request.inboundCount) inbound"
            + (request.knowledge.isEmpty ? "" : ", knowledge \(request.knowledge.map(\.reference).joined(separator: ", "))")
        let body = ChatCompletionBody(model: configuration.model, messages: messages,
                                      temperature: configuration.temperature, maxTokens: request.maxTokens ?? configuration.maxTokens,
                                      tools: request.tools.isEmpty ? nil : request.tools)
        let bytes: [UInt8]
        do {
            bytes = try OutboundHTTP.jsonBody(body)
        } catch {
            // Nothing was sent; the run ends failed_permanent, which the executor metrics count.
            logger.error("ai.encode_failed", metadata: ["ai.model": "\(configuration.model)", "error": "\(error)"])
            return AIReply(result: ExecutionResult(operation: "ai.openai", target: "POST \(path)", requestSummary: summary,
                                                   outcome: .failedPermanent, detail: "could not encode the request: \(error)"))
        }
        let url = configuration.baseURL + path
        let key = configuration.apiKey
        let record = await http.exchange(
            logger: logger,
            makeRequest: {
                var headers = HTTPHeaders()
                headers.add(name: "Authorization", value: "Bearer \(key)")
                headers.add(name: "Content-Type", value: "application/json")
                return OutboundRequest(method: .POST, url: url, headers: headers, body: bytes)
            },
            classify: WebhookSender.classify)
        var result = KommoClient.result(operation: "ai.openai", target: "POST \(path)", summary: summary, record: record,
                                        kind: .read, limit: configuration.maxResponseBytes, service: "the LLM endpoint")
        guard result.outcome == .succeeded, let json = record.response?.json else {
            return AIReply(result: result)
        }
        if let usage = json["usage"] {
            result.usage = TokenUsage(
                promptTokens: Int(usage["prompt_tokens"]?.int64 ?? 0),
                completionTokens: Int(usage["completion_tokens"]?.int64 ?? 0),
                totalTokens: Int(usage["total_tokens"]?.int64 ?? 0))
        }
        let message = json["choices"]?[0]?["message"]
        let text = message?["content"]?.string?.trimmingCharacters(in: .whitespacesAndNewlines)
        let calls = (message?["tool_calls"]?.array ?? []).prefix(Self.maximumToolCalls).compactMap { call -> AIToolCall? in
            guard let name = call["function"]?["name"]?.string else { return nil }
            return AIToolCall(id: call["id"]?.string ?? "", name: name, arguments: call["function"]?["arguments"]?.string ?? "")
        }
        if !calls.isEmpty, text?.isEmpty ?? true {
            // Only actions: they run, and no message goes to the lead this time.
            var reply = AIReply(result: result)
            reply.toolCalls = Array(calls)
            reply.knowledgeUsed = request.knowledge
            return reply
        }
        guard let text, !text.isEmpty else {
            // Tokens were spent all the same: usage stays on the result for the ledger.
            result.outcome = .failedPermanent
            result.detail = "the model's answer has no message text"
            return AIReply(result: result)
        }
        var reply = AIReply(text: text, result: result)
        reply.knowledgeUsed = request.knowledge
        reply.toolCalls = Array(calls)
        return reply
    }

    /// Most tool calls of one answer that are looked at; the rest are dropped.
    static let maximumToolCalls = 10

    // MARK: - Prompt

    /// The scripts usable at the lead's stage: latest versions, unbound or bound to that stage.
    static func scriptsForStage(_ request: AIReplyRequest) -> [SalesScript] {
        request.currentScripts.filter { ($0.stageID == nil || $0.stageID == request.stageID) && request.speaksLanguage($0) }
    }

    /// The chat messages for `request`: one system message, then the most recent turns.
    ///
    /// - Parameter unparsable: told about each script whose body does not parse as a template.
    static func messages(for request: AIReplyRequest, maxTurns: Int,
                         unparsable: (SalesScript, TemplateError) -> Void = { _, _ in }) -> [ChatCompletionBody.Message] {
        var system: [String] = []
        let persona = request.persona.trimmingCharacters(in: .whitespacesAndNewlines)
        system.append(persona.isEmpty ? "You are \(request.agentName), a sales agent." : persona)
        system.append("Your name is \(request.agentName). Reply with the next chat message to the lead only.")
        if let language = request.language {
            system.append("Write the reply in \(LanguageGuess.name(of: language)).")
        }
        if let instructions = request.instructions, !TextFold.isBlank(instructions) {
            system.append("Instructions for this reply: \(instructions)")
        }
        let scripts = scriptsForStage(request)
        if !scripts.isEmpty {
            var section = ["Sales scripts for the current stage (follow them; adapt to the conversation):"]
            for script in scripts {
                var body = script.body
                do {
                    body = try Template(parsing: script.body).render(values: request.renderValues, policy: .useDefaultOrEmpty).text ?? body
                } catch {
                    unparsable(script, error)
                }
                var header = "### \(script.type.rawValue): \(script.name.isEmpty ? script.id : script.name)"
                if !script.triggerPhrases.isEmpty { header += " (when the lead says: \(script.triggerPhrases.joined(separator: "; ")))" }
                section.append(header + "\n" + body)
            }
            system.append(section.joined(separator: "\n\n"))
        }
        if !request.knowledge.isEmpty {
            var section = ["Knowledge base: facts about the business found for the lead's message. Answer questions from them; "
                + "when they do not hold the answer, say you will check rather than invent one."]
            for (index, source) in request.knowledge.enumerated() {
                section.append("[\(index + 1)] \(source.title) — \(source.heading) (source: document \(source.reference))\n\(source.text)")
            }
            system.append(section.joined(separator: "\n\n"))
        }
        var messages = [ChatCompletionBody.Message(role: "system", content: system.joined(separator: "\n\n"))]
        for turn in request.conversation.suffix(max(0, maxTurns)) {
            messages.append(.init(role: turn.author == .lead ? "user" : "assistant", content: turn.text))
        }
        return messages
    }
}

/// The request body of a chat completion.
struct ChatCompletionBody: Encodable {
    struct Message: Encodable, Hashable {
        var role: String
        var content: String
    }
    var model: String
    var messages: [Message]
    var temperature: Double?
    var maxTokens: Int?
    var tools: [JSONValue]?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, maxTokens = "max_tokens", tools
    }
}
