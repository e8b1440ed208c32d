import AsyncHTTPClient
import Basics
import Domain
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// The OpenAI-compatible emulator refuses what the real service refuses, so tests that pass against it
/// send requests the service would take.
@Suite("OpenAIEmulator")
struct OpenAIEmulatorTests {
    private func withEmulator(_ body: (OpenAIEmulator, _ post: (String, String, [UInt8], String?) async throws -> (Int, [UInt8])) async throws -> Void)
        async throws {
        let emulator = OpenAIEmulator()
        try await withTestServer(emulator.handle) { port in
            try await body(emulator) { path, contentType, bytes, key in
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: contentType)
                request.headers.add(name: "Authorization", value: "Bearer \(key ?? emulator.apiKey)")
                request.body = .bytes(ByteBuffer(bytes: bytes))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let answer = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), Array(answer.readableBytesView))
            }
        }
    }

    private func json(_ value: JSONValue) -> [UInt8] { Array(value.data()) }

    private let tool: JSONValue = [
        "type": "function",
        "function": ["name": "add_tags", "description": "Tag the lead",
                     "parameters": ["type": "object", "properties": ["tags": ["type": "array", "items": ["type": "string"]]]]],
    ]

    @Test("chat completions answer scripted tool calls, then text, and record messages, tools and model")
    func scriptedChat() async throws {
        try await withEmulator { emulator, post in
            emulator.enqueue(.toolCalls([.init(id: "call_1", name: "add_tags", arguments: ["tags": ["vip"]])]), .message("Done!"))
            let first: JSONValue = ["model": "gpt-x", "messages": [["role": "system", "content": "Be kind"], ["role": "user", "content": "hi"]],
                                    "tools": [tool]]
            let (status, bytes) = try await post("/v1/chat/completions", "application/json", json(first), nil)
            #expect(status == 200)
            let answer = try #require(JSONValue(parsing: bytes))
            #expect(answer["choices"]?[0]?["finish_reason"]?.string == "tool_calls")
            let call = try #require(answer["choices"]?[0]?["message"]?["tool_calls"]?[0])
            #expect(call["function"]?["name"]?.string == "add_tags")
            #expect(JSONValue(parsing: call["function"]?["arguments"]?.string ?? "") == ["tags": ["vip"]])

            // The tool's result goes back; the model then writes its message.
            let second: JSONValue = ["model": "gpt-x", "tools": [tool], "messages": [
                ["role": "user", "content": "hi"],
                ["role": "assistant", "content": nil, "tool_calls": [call]],
                ["role": "tool", "tool_call_id": "call_1", "content": "tagged"],
            ]]
            let (status2, bytes2) = try await post("/v1/chat/completions", "application/json", json(second), nil)
            #expect(status2 == 200)
            #expect(JSONValue(parsing: bytes2)?["choices"]?[0]?["message"]?["content"]?.string == "Done!")
            #expect(JSONValue(parsing: bytes2)?["usage"]?["total_tokens"]?.int64 == 333)

            #expect(emulator.chats.count == 2)
            #expect(emulator.chats[0].model == "gpt-x")
            #expect(emulator.chats[0].system == "Be kind")
            #expect(emulator.chats[0].toolNames == ["add_tags"])
            #expect(emulator.chats[1].roles == ["user", "assistant", "tool"])
            #expect(emulator.violations.isEmpty)

            // Nothing scripted: the default reply.
            let (_, bytes3) = try await post("/v1/chat/completions", "application/json", json(first), nil)
            #expect(JSONValue(parsing: bytes3)?["choices"]?[0]?["message"]?["content"]?.string == emulator.defaultReply)
        }
    }

    @Test("malformed chat requests, a wrong key and a call to a tool not offered are refused")
    func refusals() async throws {
        try await withEmulator { emulator, post in
            let user: JSONValue = ["role": "user", "content": "hi"]
            let bad: [(JSONValue, String)] = [
                (["messages": [user]], "model is required"),
                (["model": "m", "messages": []], "messages must be a non-empty array"),
                (["model": "m", "messages": [["role": "robot", "content": "x"]]], "is not one of"),
                (["model": "m", "messages": [user], "tools": [["type": "function", "function": ["name": "has space"]]]], "function.name"),
                (["model": "m", "messages": [user], "tools": [["type": "function", "function": ["name": "x", "parameters": ["type": "string"]]]]],
                 "parameters"),
                (["model": "m", "messages": [user, ["role": "tool", "tool_call_id": "nope", "content": "x"]]], "must answer a preceding"),
                (["model": "m", "messages": [user], "max_tokens": -3], "max_tokens"),
            ]
            for (body, message) in bad {
                let (status, _) = try await post("/v1/chat/completions", "application/json", json(body), nil)
                #expect(status == 400, "\(body)")
                #expect(emulator.violations.last?.contains(message) == true, "\(emulator.violations.last ?? "-") for \(body)")
            }
            let (notJSON, _) = try await post("/v1/chat/completions", "application/json", Array("{nope".utf8), nil)
            #expect(notJSON == 400)
            let (wrongKey, _) = try await post("/v1/chat/completions", "application/json", json(["model": "m", "messages": [user]]), "sk-other")
            #expect(wrongKey == 401)

            emulator.enqueue(.toolCalls([.init(name: "move_to_stage", arguments: "{}")]))
            let (unoffered, _) = try await post("/v1/chat/completions", "application/json",
                                                json(["model": "m", "messages": [user], "tools": [tool]]), nil)
            #expect(unoffered == 400)
            #expect(emulator.violations.last?.contains("move_to_stage was not offered") == true)
            #expect(emulator.chats.count == 1, "only the last request passed the checks")
        }
    }

    @Test("embeddings are the deterministic vectors, one per input, in order")
    func embeddings() async throws {
        try await withEmulator { emulator, post in
            let inputs = ["Do you deliver to Valencia?", "Entregas em São Paulo"]
            let (status, bytes) = try await post("/v1/embeddings", "application/json",
                                                 json(["model": "text-embedding-3-small", "input": .array(inputs.map(JSONValue.string))]), nil)
            #expect(status == 200)
            let data = try #require(JSONValue(parsing: bytes)?["data"]?.array)
            #expect(data.count == 2)
            for (index, item) in data.enumerated() {
                #expect(item["index"]?.int64 == Int64(index))
                let vector = (item["embedding"]?.array ?? []).compactMap(\.double)
                #expect(vector == DeterministicEmbedding.vector(inputs[index]))
                #expect(vector.count == 256)
            }
            #expect(emulator.embeddings == [.init(model: "text-embedding-3-small", inputs: inputs)])

            let (one, oneBytes) = try await post("/v1/embeddings", "application/json",
                                                 json(["model": "m", "input": "delivery", "dimensions": 8]), nil)
            #expect(one == 200)
            #expect(JSONValue(parsing: oneBytes)?["data"]?[0]?["embedding"]?.array?.count == 8)

            let (missing, _) = try await post("/v1/embeddings", "application/json", json(["model": "m"]), nil)
            #expect(missing == 400)
            let (numbers, _) = try await post("/v1/embeddings", "application/json", json(["model": "m", "input": [1, 2]]), nil)
            #expect(numbers == 400)
            #expect(emulator.embeddings.count == 2)
        }
    }

    @Test("transcriptions take a multipart audio file and answer the scripted transcript")
    func transcriptions() async throws {
        try await withEmulator { emulator, post in
            emulator.enqueueTranscripts("Quero saber o preço para cinco pessoas")
            let boundary = "----kommo-agents-test"
            let audio = [UInt8](repeating: 0x4F, count: 3_000)
            func multipart(_ parts: [(name: String, file: String?, body: [UInt8])]) -> [UInt8] {
                var out: [UInt8] = []
                for part in parts {
                    var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
                    if let file = part.file { head += "; filename=\"\(file)\"\r\nContent-Type: audio/ogg" }
                    out += Array((head + "\r\n\r\n").utf8) + part.body + Array("\r\n".utf8)
                }
                return out + Array("--\(boundary)--\r\n".utf8)
            }
            let body = multipart([("file", "voice.ogg", audio), ("model", nil, Array("whisper-1".utf8)), ("language", nil, Array("pt".utf8))])
            let (status, bytes) = try await post("/v1/audio/transcriptions", "multipart/form-data; boundary=\(boundary)", body, nil)
            #expect(status == 200)
            #expect(JSONValue(parsing: bytes)?["text"]?.string == "Quero saber o preço para cinco pessoas")
            #expect(emulator.transcriptions == [.init(model: "whisper-1", fileName: "voice.ogg", fileSize: 3_000,
                                                      fileContentType: "audio/ogg", language: "pt")])

            let noFile = multipart([("model", nil, Array("whisper-1".utf8))])
            let (refused, _) = try await post("/v1/audio/transcriptions", "multipart/form-data; boundary=\(boundary)", noFile, nil)
            #expect(refused == 400)
            #expect(emulator.violations.last == "a 'file' part with a filename is required")
            let (notMultipart, _) = try await post("/v1/audio/transcriptions", "application/json", json(["file": "x"]), nil)
            #expect(notMultipart == 400)
            #expect(emulator.transcriptions.count == 1)
        }
    }
}
