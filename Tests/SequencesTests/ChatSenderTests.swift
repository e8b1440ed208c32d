import TestSupport
import AsyncHTTPClient
import Foundation
import Sequences
import Testing

/// Runs `body` with a Kommo emulator (which also serves the Chats API route) and a sender.
private func withChat<T: Sendable>(
    _ body: (KommoEmulator, ChatSender, KommoConnection, Int) async throws -> T
) async throws -> T {
    let emulator = KommoEmulator(channelSecret: "s3cr3t-channel")
    return try await withTestServer(emulator.handle) { port in
        try await withHTTPClient { http in
            let kommo = KommoClient(egress: http, rateLimiter: KommoRateLimiter(), configuration: .init(retry: fastRetry))
            let sender = ChatSender(kommo: kommo, egress: http, configuration: .init(retry: fastRetry))
            let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)", accessToken: emulator.token))
            return try await body(emulator, sender, account, port)
        }
    }
}

private func channel(port: Int, secret: String = "s3cr3t-channel") -> ChatSender.ChatsAPIChannel {
    ChatSender.ChatsAPIChannel(baseURL: "http://127.0.0.1:\(port)", scopeID: "f90ba33d-c9d9-44da-b76c-c349b0ecbe41_acc-123",
                               secret: secret, sender: .init(id: "agent-1", name: "Ana (AI)"))
}

@Suite("ChatSender")
struct ChatSenderTests {
    @Test("salesbot_field writes the text into the field, then runs the bot")
    func salesbotField() async throws {
        try await withChat { emulator, sender, account, _ in
            let message = ChatSender.Message(leadID: 901, text: "Olá Maria, tudo bem?", idempotencyKey: "enr-1/step-2")
            let result = await sender.send(message, mode: .salesbotField(.init(fieldID: 777, botID: 55)),
                                           account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.operation == "chat.salesbot_field")
            #expect(result.steps.map(\.operation) == ["kommo.set_fields", "kommo.run_salesbot"])
            #expect(result.attempts == 2)
            #expect(result.httpStatus == 202)
            #expect(emulator.violations.isEmpty)
            let requests = emulator.received
            #expect(requests.map { "\($0.method) \($0.path)" } == ["PATCH /api/v4/leads", "POST /api/v2/salesbot/run"])
            #expect(requests[0].json?[0]?["id"] == .int(901))
            #expect(requests[0].json?[0]?["custom_fields_values"]?[0]?["field_id"] == .int(777))
            #expect(requests[0].json?[0]?["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string == "Olá Maria, tudo bem?")
            #expect(requests[1].json?[0]?["bot_id"] == .int(55))
            #expect(requests[1].json?[0]?["entity_id"] == .int(901))
        }
    }

    @Test("salesbot_field does not run the bot when the field write failed")
    func salesbotFieldWriteFails() async throws {
        try await withChat { emulator, sender, account, _ in
            emulator.enqueue(.problem(status: 400, title: "Bad Request", detail: "Field 777 not found"))
            let result = await sender.send(.init(leadID: 1, text: "hi", idempotencyKey: "k"),
                                           mode: .salesbotField(.init(fieldID: 777, botID: 55)), account: account, logger: quietLogger)
            #expect(result.outcome == .failedPermanent)
            #expect(result.steps.count == 1)
            #expect(result.problem?.detail == "Field 777 not found")
            #expect(emulator.received.count == 1)
        }
    }

    @Test("chats_api posts a new_message signed as Kommo verifies it")
    func chatsAPISigned() async throws {
        try await withChat { emulator, sender, account, port in
            let message = ChatSender.Message(
                leadID: 901, text: "Hello from the agent", idempotencyKey: "evt-9/rule-1/0",
                conversationID: "conv-42", receiver: .init(id: "client-7", name: "Maria", phone: "+5511999999999"))
            let result = await sender.send(message, mode: .chatsAPI(channel(port: port)), account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded, "\(emulator.violations)")
            #expect(result.target == "POST /v2/origin/custom/f90ba33d-c9d9-44da-b76c-c349b0ecbe41_acc-123")
            #expect(emulator.violations.isEmpty)
            let request = try #require(emulator.received.first)
            #expect(request.headers["authorization"] == nil, "the Chats API is signed, it carries no Kommo token")
            let payload = try #require(request.json?["payload"])
            #expect(payload["msgid"]?.string == "evt-9/rule-1/0")
            #expect(payload["conversation_id"]?.string == "conv-42")
            #expect(payload["receiver"]?["id"]?.string == "client-7")
            #expect(payload["sender"]?["name"]?.string == "Ana (AI)")
            #expect(payload["message"]?["text"]?.string == "Hello from the agent")
            #expect(!"\(result)".contains("s3cr3t-channel"))
        }
    }

    @Test("chats_api signed with the wrong secret is refused by the emulator")
    func chatsAPIWrongSecret() async throws {
        try await withChat { emulator, sender, account, port in
            let message = ChatSender.Message(leadID: 1, text: "x", idempotencyKey: "k", conversationID: "c", receiver: .init(id: "r"))
            let result = await sender.send(message, mode: .chatsAPI(channel(port: port, secret: "wrong")), account: account, logger: quietLogger)
            #expect(result.outcome == .failedPermanent)
            #expect(result.httpStatus == 403)
            #expect(emulator.violations == ["chats api: x-signature does not verify"])
        }
    }

    @Test("chats_api retries a 5xx with a fresh signature")
    func chatsAPIRetry() async throws {
        try await withChat { emulator, sender, account, port in
            emulator.enqueue(.status(503))
            let message = ChatSender.Message(leadID: 1, text: "x", idempotencyKey: "k", conversationID: "c", receiver: .init(id: "r"))
            let result = await sender.send(message, mode: .chatsAPI(channel(port: port)), account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.attempts == 2)
            #expect(emulator.violations.isEmpty)
        }
    }

    @Test("missing settings skip or fail without sending")
    func missingSettings() async throws {
        try await withChat { emulator, sender, account, port in
            let message = ChatSender.Message(leadID: 1, text: "x", idempotencyKey: "k")
            let noMode = await sender.send(message, mode: nil, account: account, logger: quietLogger)
            #expect(noMode.outcome == .skipped)
            let noAccount = await sender.send(message, mode: .salesbotField(.init(fieldID: 1, botID: 2)), account: nil, logger: quietLogger)
            #expect(noAccount.outcome == .skipped)
            #expect(noAccount.detail == SkipReason.noKommoCredentials)
            let noConversation = await sender.send(message, mode: .chatsAPI(channel(port: port)), account: account, logger: quietLogger)
            #expect(noConversation.outcome == .failedPermanent)
            #expect(emulator.received.isEmpty)
        }
    }

    @Test("signing helpers match known values")
    func signingHelpers() {
        #expect(ChatsAPISignature.rfc2822(Date(timeIntervalSince1970: 1_700_000_000)) == "Tue, 14 Nov 2023 22:13:20 +0000")
        #expect(ChatsAPISignature.rfc2822(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        // MD5("") and HMAC-SHA1 reference values (RFC 1321, RFC 2202 test case 2).
        #expect(ChatsAPISignature.contentMD5([]) == "d41d8cd98f00b204e9800998ecf8427e")
        let body = Array("what do ya want for nothing?".utf8)
        #expect(ChatsAPISignature.contentMD5(body).count == 32)
    }
}
