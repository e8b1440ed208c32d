import Basics
import Domain
import Foundation
import Hummingbird
import Synchronization

/// An OpenAI-compatible endpoint on loopback, for what an AI agent asks of one:
///
/// - `POST /v1/chat/completions` answers the scripted answers in order (a message, tool calls, or an
///   error status), then ``defaultReply``;
/// - `POST /v1/embeddings` answers ``DeterministicEmbedding`` vectors, one per input;
/// - `POST /v1/audio/transcriptions` (multipart) answers the scripted transcripts in order.
///
/// Every call is checked as the real service checks it — `Authorization: Bearer <key>`, a JSON body of
/// the right shape (roles, tool schemas, tool results answering a call), a multipart file — and a call
/// that breaks the rules is answered 400 (401 for the key) and recorded in ``violations``. What passed
/// the checks is recorded as ``chats``, ``embeddings`` and ``transcriptions``.
package final class OpenAIEmulator: Sendable {
    /// One tool call the model makes.
    package struct ToolCall: Sendable, Hashable {
        package var id: String
        package var name: String
        /// The arguments as the model writes them: a JSON object in a string (or anything, to test refusals).
        package var arguments: String

        package init(id: String? = nil, name: String, arguments: String) {
            self.id = id ?? "call_\(name)"
            self.name = name
            self.arguments = arguments
        }

        package init(id: String? = nil, name: String, arguments: JSONValue) {
            self.init(id: id, name: name, arguments: arguments.text())
        }
    }

    /// What the next chat completion answers.
    package enum ChatAnswer: Sendable, Hashable {
        /// An assistant message with this content.
        case message(String)
        /// An assistant message calling tools (with optional content beside them).
        case toolCalls([ToolCall], content: String? = nil)
        /// An error status (429 carries `Retry-After: 0`).
        case status(Int)
    }

    /// A chat completion request that passed the checks.
    package struct Chat: Sendable {
        package var model: String
        /// The messages as sent (`role`, `content`, `tool_calls`, `tool_call_id`).
        package var messages: [JSONValue]
        /// The `tools` as sent.
        package var tools: [JSONValue]
        /// The whole body.
        package var body: JSONValue

        /// The system message's text.
        package var system: String { messages.first { $0["role"]?.string == "system" }?["content"]?.string ?? "" }
        /// The tool names offered.
        package var toolNames: [String] { tools.compactMap { $0["function"]?["name"]?.string } }
        /// Each message's role, in order.
        package var roles: [String] { messages.map { $0["role"]?.string ?? "" } }
    }

    /// An embeddings request that passed the checks.
    package struct Embedding: Sendable, Hashable {
        package var model: String
        package var inputs: [String]

        package init(model: String, inputs: [String]) { self.model = model; self.inputs = inputs }
    }

    /// A transcription request that passed the checks.
    package struct Transcription: Sendable, Hashable {
        package var model: String
        package var fileName: String
        package var fileSize: Int
        package var fileContentType: String?
        package var language: String?

        package init(model: String, fileName: String, fileSize: Int, fileContentType: String? = nil, language: String? = nil) {
            self.model = model; self.fileName = fileName; self.fileSize = fileSize
            self.fileContentType = fileContentType; self.language = language
        }
    }

    package let apiKey: String
    /// Answered when no answer is scripted.
    package let defaultReply: String
    /// Token usage every chat answer reports.
    package let usage: (prompt: Int, completion: Int)
    /// Words the embeddings treat as another word before hashing ("shipping" → "delivery"): a model's
    /// sense of meaning, which the deterministic embedding otherwise lacks. Chat answers ignore it.
    package let synonyms: [String: String]

    private struct State {
        var received: [ReceivedRequest] = []
        var violations: [String] = []
        var answers: [ChatAnswer] = []
        var transcripts: [String] = []
        var chats: [Chat] = []
        var embeddings: [Embedding] = []
        var transcriptions: [Transcription] = []
        var counter = 0
    }
    private let state = Mutex(State())

    package init(apiKey: String = "sk-test-\(UUID().uuidString)", defaultReply: String = "Thanks! Let me check that for you.",
                 usage: (prompt: Int, completion: Int) = (321, 12), synonyms: [String: String] = [:]) {
        self.apiKey = apiKey
        self.synonyms = synonyms
        self.defaultReply = defaultReply
        self.usage = usage
    }

    // MARK: - Script and records

    /// The next chat completions answer these, in order.
    package func enqueue(_ answers: ChatAnswer...) { state.withLock { $0.answers += answers } }
    /// The next chat completions answer these statuses, in order.
    package func enqueue(statuses: Int...) { state.withLock { $0.answers += statuses.map(ChatAnswer.status) } }
    /// The next transcriptions answer these texts, in order (then "").
    package func enqueueTranscripts(_ texts: String...) { state.withLock { $0.transcripts += texts } }

    /// Every request, whatever became of it.
    package var received: [ReceivedRequest] { state.withLock { $0.received } }
    /// Why requests were refused, in order.
    package var violations: [String] { state.withLock { $0.violations } }
    /// Chat completion requests that passed the checks (answered or answered with a scripted status).
    package var chats: [Chat] { state.withLock { $0.chats } }
    package var embeddings: [Embedding] { state.withLock { $0.embeddings } }
    package var transcriptions: [Transcription] { state.withLock { $0.transcriptions } }

    // MARK: - Server

    /// The server's handler, for ``withTestServer``.
    package func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 32 << 20)
        let received = ReceivedRequest(request, body: body)
        state.withLock { $0.received.append(received) }
        guard received.method == "POST" else { return Reply.empty(405) }
        let route: (ReceivedRequest) -> Response
        switch received.path {
        case "/v1/chat/completions": route = chatCompletion
        case "/v1/embeddings": route = embeddings
        case "/v1/audio/transcriptions": route = transcription
        default: return Reply.json(404, Self.error("Unknown request URL: POST \(received.path)", type: "invalid_request_error"))
        }
        guard received.headers["authorization"] == "Bearer \(apiKey)" else {
            return refuse("Incorrect API key provided", status: 401)
        }
        return route(received)
    }

    private static func error(_ message: String, type: String) -> JSONValue {
        .object(["error": .object(["message": .string(message), "type": .string(type)])])
    }

    private func refuse(_ message: String, status: Int = 400) -> Response {
        state.withLock { $0.violations.append(message) }
        return Reply.json(status, Self.error(message, type: "invalid_request_error"))
    }

    // MARK: - Chat completions

    private func chatCompletion(_ request: ReceivedRequest) -> Response {
        guard request.headers["content-type"]?.hasPrefix("application/json") == true else {
            return refuse("chat completions take application/json")
        }
        guard let body = request.json, case .object = body else { return refuse("the body is not a JSON object") }
        if let problem = Self.chatProblem(body) { return refuse(problem) }
        guard case .string(let model)? = body["model"], let messages = body["messages"]?.array else {
            return refuse("model and messages are required")
        }
        let chat = Chat(model: model, messages: messages, tools: body["tools"]?.array ?? [], body: body)
        let (answer, number): (ChatAnswer, Int) = state.withLock { state in
            state.chats.append(chat)
            state.counter += 1
            return (state.answers.isEmpty ? .message(defaultReply) : state.answers.removeFirst(), state.counter)
        }
        let message: JSONValue
        let finish: String
        switch answer {
        case .status(let status):
            return status == 429
                ? Reply.json(429, Self.error("Rate limit reached", type: "requests"), headers: [("Retry-After", "0")])
                : Reply.json(status, Self.error("overloaded", type: "server_error"))
        case .message(let content):
            message = .object(["role": "assistant", "content": .string(content)])
            finish = "stop"
        case .toolCalls(let calls, let content):
            let offered = Set(chat.toolNames)
            if let unknown = calls.first(where: { !offered.contains($0.name) }) {
                // A real model only calls tools it was given: a script calling another is a broken test.
                return refuse("scripted tool call \(unknown.name) was not offered (offered: \(offered.sorted().joined(separator: ", ")))")
            }
            message = .object([
                "role": "assistant",
                "content": content.map(JSONValue.string) ?? .null,
                "tool_calls": .array(calls.map { call in
                    .object(["id": .string(call.id), "type": "function",
                             "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)])])
                }),
            ])
            finish = "tool_calls"
        }
        return Reply.json(200, JSONValue.object([
            "id": .string("chatcmpl-\(number)"), "object": "chat.completion", "created": .int(1_700_000_000),
            "model": .string(model),
            "choices": .array([.object(["index": 0, "message": message, "finish_reason": .string(finish)])]),
            "usage": .object(["prompt_tokens": .int(Int64(usage.prompt)), "completion_tokens": .int(Int64(usage.completion)),
                              "total_tokens": .int(Int64(usage.prompt + usage.completion))]),
        ]))
    }

    /// What is wrong with a chat completion body, as the service would say it; `nil` when nothing is.
    static func chatProblem(_ body: JSONValue) -> String? {
        guard case .string(let model)? = body["model"], !model.isEmpty else { return "model is required" }
        guard let messages = body["messages"]?.array, !messages.isEmpty else { return "messages must be a non-empty array" }
        if let temperature = body["temperature"], temperature != .null {
            guard let value = temperature.double, temperature.isNumber, (0...2).contains(value) else { return "temperature must be a number in 0…2" }
        }
        if let maxTokens = body["max_tokens"], maxTokens != .null {
            guard case .int(let value) = maxTokens, value > 0 else { return "max_tokens must be a positive integer" }
        }
        var toolNames: Set<String> = []
        if let tools = body["tools"], tools != .null {
            guard let list = tools.array, !list.isEmpty else { return "tools must be a non-empty array when present" }
            for (index, tool) in list.enumerated() {
                guard tool["type"]?.string == "function", let function = tool["function"]?.object else {
                    return "tools[\(index)] must be {\"type\":\"function\",\"function\":{…}}"
                }
                guard case .string(let name)? = function["name"], Self.isToolName(name) else {
                    return "tools[\(index)].function.name must match ^[a-zA-Z0-9_-]{1,64}$"
                }
                guard toolNames.insert(name).inserted else { return "tools[\(index)].function.name \(name) is offered twice" }
                if let parameters = function["parameters"] {
                    guard parameters["type"]?.string == "object", parameters["properties"]?.object != nil else {
                        return "tools[\(index)].function.parameters must be a JSON schema of type object with properties"
                    }
                }
            }
        }
        var pendingCalls: Set<String> = []
        for (index, message) in messages.enumerated() {
            guard case .string(let role)? = message["role"] else { return "messages[\(index)].role is required" }
            switch role {
            case "system", "user":
                guard case .string = message["content"] else { return "messages[\(index)].content must be a string" }
            case "assistant":
                let calls = message["tool_calls"]?.array ?? []
                if calls.isEmpty {
                    guard case .string = message["content"] else { return "messages[\(index)].content must be a string" }
                }
                for call in calls {
                    guard case .string(let id)? = call["id"], case .string? = call["function"]?["name"],
                          case .string? = call["function"]?["arguments"] else {
                        return "messages[\(index)].tool_calls need id, function.name and function.arguments (a string)"
                    }
                    pendingCalls.insert(id)
                }
            case "tool":
                guard case .string(let id)? = message["tool_call_id"], pendingCalls.remove(id) != nil else {
                    return "messages[\(index)] with role 'tool' must answer a preceding tool_calls id"
                }
                guard case .string = message["content"] else { return "messages[\(index)].content must be a string" }
            default:
                return "messages[\(index)].role '\(role)' is not one of system, user, assistant, tool"
            }
        }
        if !pendingCalls.isEmpty {
            return "an assistant message with 'tool_calls' must be followed by tool messages answering each id: \(pendingCalls.sorted())"
        }
        return nil
    }

    private static func isToolName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
    }

    // MARK: - Embeddings

    private func embeddings(_ request: ReceivedRequest) -> Response {
        guard let body = request.json, case .string(let model)? = body["model"], !model.isEmpty else {
            return refuse("model is required")
        }
        let inputs: [String]
        switch body["input"] {
        case .string(let text)?: inputs = [text]
        case .array(let items)?:
            var texts: [String] = []
            for item in items {
                guard case .string(let text) = item else { return refuse("input must be a string or an array of strings") }
                texts.append(text)
            }
            inputs = texts
        default: return refuse("input must be a string or an array of strings")
        }
        guard !inputs.isEmpty, inputs.count <= 2048 else { return refuse("input must hold 1…2048 strings") }
        if inputs.contains(where: \.isEmpty) { return refuse("input strings must not be empty") }
        var dimensions = DeterministicEmbedding.defaultDimensions
        if let asked = body["dimensions"] {
            guard case .int(let value) = asked, value > 0, value <= 4096 else { return refuse("dimensions must be an integer in 1…4096") }
            dimensions = Int(value)
        }
        state.withLock { $0.embeddings.append(Embedding(model: model, inputs: inputs)) }
        let tokens = inputs.reduce(0) { $0 + $1.split(separator: " ").count }
        return Reply.json(200, JSONValue.object([
            "object": "list", "model": .string(model),
            "data": .array(inputs.enumerated().map { index, text in
                .object(["object": "embedding", "index": .int(Int64(index)),
                         "embedding": .array(DeterministicEmbedding.vector(meaning(of: text), dimensions: dimensions).map(JSONValue.double))])
            }),
            "usage": .object(["prompt_tokens": .int(Int64(tokens)), "total_tokens": .int(Int64(tokens))]),
        ]))
    }

    /// `text` with its words replaced by their ``synonyms``.
    private func meaning(of text: String) -> String {
        guard !synonyms.isEmpty else { return text }
        return text.split { !$0.isLetter && !$0.isNumber }.map { synonyms[$0.lowercased()] ?? String($0) }.joined(separator: " ")
    }

    // MARK: - Transcriptions

    private func transcription(_ request: ReceivedRequest) -> Response {
        guard let contentType = request.headers["content-type"], contentType.hasPrefix("multipart/form-data"),
              let boundary = Self.boundary(of: contentType) else {
            return refuse("transcriptions take multipart/form-data with a boundary")
        }
        guard let parts = Self.multipartParts(request.body, boundary: boundary) else { return refuse("the multipart body does not parse") }
        guard let file = parts.first(where: { $0.name == "file" }), let fileName = file.fileName, !fileName.isEmpty else {
            return refuse("a 'file' part with a filename is required")
        }
        guard !file.body.isEmpty else { return refuse("the audio file is empty") }
        guard let model = parts.first(where: { $0.name == "model" }).map({ String(decoding: $0.body, as: UTF8.self) }), !model.isEmpty else {
            return refuse("a 'model' part is required")
        }
        let format = parts.first { $0.name == "response_format" }.map { String(decoding: $0.body, as: UTF8.self) } ?? "json"
        guard ["json", "text", "verbose_json"].contains(format) else { return refuse("response_format must be json, text or verbose_json") }
        let language = parts.first { $0.name == "language" }.map { String(decoding: $0.body, as: UTF8.self) }
        let text: String = state.withLock { state in
            state.transcriptions.append(Transcription(model: model, fileName: fileName, fileSize: file.body.count,
                                                      fileContentType: file.contentType, language: language))
            return state.transcripts.isEmpty ? "" : state.transcripts.removeFirst()
        }
        if format == "text" { return Reply.json(200, text, contentType: "text/plain; charset=utf-8") }
        return Reply.json(200, JSONValue.object(["text": .string(text)]))
    }

    /// One part of a multipart body.
    package struct Part: Sendable, Hashable {
        package var name: String
        package var fileName: String?
        package var contentType: String?
        package var body: [UInt8]
    }

    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// The parts of a `multipart/form-data` body (RFC 7578); `nil` when it is not one.
    package static func multipartParts(_ body: [UInt8], boundary: String) -> [Part]? {
        let delimiter = Array("--\(boundary)".utf8)
        let crlf: [UInt8] = [13, 10]
        var positions: [Int] = []
        var index = 0
        while let found = find(delimiter, in: body, from: index) {
            positions.append(found)
            index = found + delimiter.count
        }
        guard positions.count >= 2 else { return nil }
        // The last delimiter is the close one: `--boundary--`.
        let last = positions[positions.count - 1] + delimiter.count
        guard body.count >= last + 2, body[last] == 0x2D, body[last + 1] == 0x2D else { return nil }
        var parts: [Part] = []
        for (start, end) in zip(positions, positions.dropFirst()) {
            var from = start + delimiter.count
            guard Array(body[from..<min(from + 2, body.count)]) == crlf else { return nil }
            from += 2
            // The part's body ends with the CRLF before the next delimiter.
            guard end - 2 >= from, Array(body[(end - 2)..<end]) == crlf else { return nil }
            let part = Array(body[from..<(end - 2)])
            guard let split = find(crlf + crlf, in: part, from: 0) else { return nil }
            let headers = String(decoding: part[..<split], as: UTF8.self)
            var name: String?
            var fileName: String?
            var contentType: String?
            for line in headers.components(separatedBy: "\r\n") {
                let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2 else { return nil }
                switch pair[0].lowercased() {
                case "content-disposition":
                    guard pair[1].lowercased().hasPrefix("form-data") else { return nil }
                    name = parameter("name", in: pair[1])
                    fileName = parameter("filename", in: pair[1])
                case "content-type": contentType = pair[1]
                default: break
                }
            }
            guard let name else { return nil }
            parts.append(Part(name: name, fileName: fileName, contentType: contentType, body: Array(part[(split + 4)...])))
        }
        return parts
    }

    private static func parameter(_ key: String, in header: String) -> String? {
        for item in header.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == key { return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}
