import Basics
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport
import Testing

/// A client's voice message, through the four real processes, a file server standing for Kommo's
/// attachment storage, the OpenAI-compatible emulator and the Kommo emulator: the audio is fetched
/// through the egress gate and transcribed before the rules see the event, so a message condition matches
/// the client's words, the AI reply answers them, and the history shows and finds them.
@Suite("Voice journey", .serialized)
struct VoiceJourneyTests {
    static let lead: Int64 = 4410091
    typealias Pause = HumanReplyPauseJourneyTests
    static let transcript = "Olá, quanto custa o plano para cinco pessoas?"

    /// `message[add]` of a voice message: no text, an attachment.
    static func voice(link: String, fileName: String, at time: Date) -> Data {
        let prefix = "message%5Badd%5D%5B0%5D"
        let parts = [
            "\(prefix)%5Bid%5D=\(UUID().uuidString.lowercased())", "\(prefix)%5Bchat_id%5D=chat-\(lead)",
            "\(prefix)%5Btalk_id%5D=9091", "\(prefix)%5Bcontact_id%5D=501", "\(prefix)%5Btext%5D=",
            "\(prefix)%5Bcreated_at%5D=\(Int(time.timeIntervalSince1970))", "\(prefix)%5Bmessage_type%5D=voice",
            "\(prefix)%5Battachment%5D%5Btype%5D=voice", "\(prefix)%5Battachment%5D%5Blink%5D=\(Pause.encoded(link))",
            "\(prefix)%5Battachment%5D%5Bfile_name%5D=\(fileName)", "\(prefix)%5Belement_type%5D=2",
            "\(prefix)%5Bentity_type%5D=lead", "\(prefix)%5Belement_id%5D=\(lead)", "\(prefix)%5Bentity_id%5D=\(lead)",
            "\(prefix)%5Btype%5D=incoming", "\(prefix)%5Bauthor%5D%5Btype%5D=external", "\(prefix)%5Bauthor%5D%5Bname%5D=Maria",
            "\(prefix)%5Borigin%5D=waba", Pause.account,
        ]
        return Data(parts.joined(separator: "&").utf8)
    }

    @Test("a voice message is transcribed once, matched by a message condition, answered by the AI and shown in history")
    func voiceMessage() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Self.lead), "name": "Apartment 7C", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let llm = OpenAIEmulator(defaultReply: "O plano para cinco pessoas custa 50 € por mês.")
        llm.enqueueTranscripts(Self.transcript)
        let downloads = Mutex(0)
        let audio = [UInt8](repeating: 0x4F, count: 4_096)
        let files: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            downloads.withLock { $0 += 1 }
            guard request.uri.path == "/files/voice_77.ogg" else { return Reply.empty(404) }
            var headers = HTTPFields()
            headers[.contentType] = "audio/ogg"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: audio)))
        }
        try await withTestServer(files) { filesPort in
            try await withTestServer(llm.handle) { llmPort in
                try await withTestServer(kommo.handle) { kommoPort in
                    let system = try await FullSystem.make()
                    try await system.run { client in
                        let acme = try await client.createTenant(admin: system.adminToken)
                        let integrations = try await client.json(.PATCH, "/api/v1/integrations", [
                            "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                            "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                            "ai": ["provider": "openai", "base_url": "http://127.0.0.1:\(llmPort)", "api_key": llm.apiKey, "model": "gpt-test"],
                        ], token: acme.key)
                        #expect(integrations.status == 200, "\(integrations.text)")
                        let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
                        let agentID = agent.json["id"] as? String ?? ""
                        let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", [
                            "name": "Price questions", "trigger": ["type": "message_received"],
                            "conditions": ["all": [["type": "message_text", "operator": "contains_any", "keywords": ["quanto custa"]]]],
                            "actions": [["type": "ai_response"]],
                        ], token: acme.key)
                        #expect(rule.status == 201, "\(rule.text)")

                        let link = "http://127.0.0.1:\(filesPort)/files/voice_77.ogg"
                        let posted = try await client.postWebhook(secret: acme.secret,
                                                                  body: Self.voice(link: link, fileName: "voice_77.ogg", at: Date()))
                        #expect(posted.status == 200, "\(posted.text)")
                        let answered = try await eventually { Pause.salesbotRuns(kommo) == 1 }
                        #expect(answered, "\(llm.violations) \(kommo.received.map { "\($0.method) \($0.path)" })")
                        #expect(llm.transcriptions == [.init(model: "whisper-1", fileName: "voice_77.ogg", fileSize: 4_096,
                                                             fileContentType: "audio/ogg")])
                        #expect(downloads.withLock { $0 } == 1)
                        let lastUser = llm.chats.first?.messages.last { $0["role"]?.string == "user" }?["content"]?.string
                        #expect(lastUser == Self.transcript, "the AI reply reads the client's words")
                        #expect(Pause.repliesSent(kommo).first == "O plano para cinco pessoas custa 50 € por mês.")

                        // History finds the event by the words said and shows them.
                        let found = try await client.request(.GET, "/api/v1/webhooks/events?text=custa&type=message_received", token: acme.key)
                        let items = found.json["items"] as? [[String: Any]] ?? []
                        #expect(items.count == 1, "\(found.text)")
                        let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(items.first?["id"] as? String ?? "")", token: acme.key)
                        #expect(detail.text.contains(Self.transcript), "\(detail.text)")
                        #expect(llm.violations.isEmpty, "\(llm.violations)")
                        #expect(kommo.violations.isEmpty, "\(kommo.violations)")
                    }
                }
            }
        }
    }
}
