import Foundation
import Sequences
import TestSupport
import Testing
import Wire

/// A stand-in sequence-service that knows one Chats API channel (as the real one does from a tenant's
/// integrations) and records the events it is sent.
final class ChannelSequences: PartialSequencesHandler {
    let scopeID: String
    let secret: String
    let tenantID = Locked("")
    let events = Locked<[PB.Event]>([])

    init(scopeID: String, secret: String) {
        self.scopeID = scopeID
        self.secret = secret
    }

    func verifyChatsWebhook(_ request: PB.ChatsWebhookCheck, context: RPCContext) async throws -> PB.ChatsWebhookVerdict {
        guard request.scopeId == scopeID else { throw RPCError(.notFound, "no channel") }
        let expected = ChatsAPISignature.bodySignature(request.body, secret: secret)
        var verdict = PB.ChatsWebhookVerdict()
        verdict.tenantId = tenantID.value
        verdict.valid = expected == request.signature
        return verdict
    }

    func onEvent(_ request: PB.OnEventRequest, context: RPCContext) async throws -> PB.OnEventResponse {
        events.withLock { $0.append(request.event ?? PB.Event()) }
        return PB.OnEventResponse()
    }

    func schedule(_ request: PB.ScheduleRequest, context: RPCContext) async throws -> PB.ScheduleResponse {
        PB.ScheduleResponse()
    }
}

/// The newer inbound shapes through the real gateway and ingest-service: each is stored and shows up
/// in the webhook history with its type.
@Suite("Inbound shapes journey", .serialized)
struct InboundShapesJourneyTests {
    static let scopeID = "f90ba33d-c9d9-4993-bf4e-4d6c5e2f1b2a_a1b2c3d4"
    static let secret = "5a44c5dff55f3c15a3ce8f3c1b0e1c2f2a3b4c5d"

    static func signature(_ body: Data, secret: String = secret) -> String {
        ChatsAPISignature.bodySignature(Array(body), secret: secret)
    }

    @Test("outgoing messages, Digital Pipeline, a company note and a declined unsorted lead are typed in the history")
    func formShapes() async throws {
        let rules = RecordingRules()
        let system = try await IngestSystem.make(rules: rules, sequences: RecordingSequences())
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let expected: [(String, String, String?)] = [
                ("outgoing_message_manager", "message_sent", "4410022"),
                ("outgoing_message_salesbot", "message_sent", "4410022"),
                ("dp_lead_mail_in", "lead_mail_in", "4410021"),
                ("dp_lead_call_in", "lead_call_in", "4410021"),
                ("dp_lead_chat", "lead_chat", "4410021"),
                ("dp_lead_site_visit", "lead_site_visit", "4410021"),
                ("dp_customer_period", "customer_period", nil),
                ("company_note", "note_added", nil),
                ("unsorted_declined", "unsorted_declined", "4410031"),
            ]
            for (fixture, type, lead) in expected {
                let answer = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body(fixture))
                #expect(answer.status == 200, "\(fixture): \(answer.text)")
                let status = answer.json["status"] as? String
                #expect(status == "accepted", "\(fixture)")
                let delivery = answer.json["delivery_id"] as? String ?? ""
                let list = try await client.request(.GET, "/api/v1/webhooks/events?type=\(type)", token: tenant.key)
                let items = list.json["items"] as? [[String: Any]] ?? []
                let item = items.first { $0["delivery_id"] as? String == delivery }
                #expect(item != nil, "\(fixture): \(list.text)")
                let shownLead = item?["lead_id"] as? String
                #expect(shownLead == lead, "\(fixture)")
            }
            let company = try await client.request(.GET, "/api/v1/webhooks/events?type=note_added&entity_type=company", token: tenant.key)
            let companyItems = company.json["items"] as? [[String: Any]] ?? []
            #expect(companyItems.count == 1, "\(company.text)")
            // The manager's message reaches the rules typed, with its author.
            let delivered = try await eventually { rules.calls.value.contains { $0.type == .messageSent } }
            #expect(delivered)
            let sent = rules.calls.value.first { $0.type == .messageSent && $0.message?.authorKind == .manager }
            let sentText = sent?.message?.text
            #expect(sentText == "Hola Maria, soy Ana. Sí, el apartamento sigue disponible; ¿le llamo hoy?")
        }
    }

    @Test("a Chats API channel webhook is verified, stored before the answer and typed; a bad signature is 401 and keeps no body")
    func chatsChannel() async throws {
        let sequences = ChannelSequences(scopeID: Self.scopeID, secret: Self.secret)
        let system = try await IngestSystem.make(rules: RecordingRules(), sequences: sequences)
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            sequences.tenantID.withLock { $0 = tenant.id }
            let body = try Data(contentsOf: URL(fileURLWithPath: Fixtures.folder).appendingPathComponent("chats_manager_message.json"))
            let path = "/webhooks/kommo-chats/\(Self.scopeID)"

            let started = ContinuousClock.now
            let good = try await client.request(.POST, path, body: body, headers: [("X-Signature", Self.signature(body))])
            let took = ContinuousClock.now - started
            #expect(good.status == 200, "\(good.text)")
            #expect(took < .seconds(5))
            let status = good.json["status"] as? String
            #expect(status == "accepted")
            let deliveryID = good.json["delivery_id"] as? String ?? ""
            // Stored before the answer: the history has it at once.
            let events = try await client.request(.GET, "/api/v1/webhooks/events?type=message_sent", token: tenant.key)
            let item = (events.json["items"] as? [[String: Any]] ?? []).first { $0["delivery_id"] as? String == deliveryID }
            let itemLead = item?["lead_id"] as? String
            #expect(itemLead == "4410022", "\(events.text)")
            let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(item?["id"] as? String ?? "")", token: tenant.key)
            let delivery = detail.json["delivery"] as? [String: Any] ?? [:]
            let storedBody = delivery["body"] as? String
            #expect(storedBody == String(decoding: body, as: UTF8.self))
            let sent = try await eventually { sequences.events.value.contains { $0.type == .messageSent && $0.leadId == 4410022 } }
            #expect(sent)

            // The same message again is a duplicate, not a second event.
            let again = try await client.request(.POST, path, body: body, headers: [("X-Signature", Self.signature(body))])
            let againStatus = again.json["status"] as? String
            #expect(againStatus == "duplicate", "\(again.text)")

            // A bad signature: 401, and a rejected delivery without the body.
            let forged = try await client.request(.POST, path, body: body, headers: [("X-Signature", Self.signature(body, secret: "guess"))])
            #expect(forged.status == 401, "\(forged.text)")
            let problemType = forged.headers.first(name: "Content-Type") ?? ""
            #expect(problemType.hasPrefix("application/problem+json"))
            let rejected = try await client.request(.GET, "/api/v1/webhooks/deliveries?status=rejected", token: tenant.key)
            let rejectedItems = rejected.json["items"] as? [[String: Any]] ?? []
            #expect(rejectedItems.count == 1, "\(rejected.text)")
            let rejectedBody = rejectedItems.first?["body"] as? String
            #expect(rejectedBody == nil)
            let all = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
            let allItems = all.json["items"] as? [Any] ?? []
            #expect(allItems.count == 1)

            // No signature at all, an unknown channel, a body over the bound.
            let unsigned = try await client.request(.POST, path, body: body)
            #expect(unsigned.status == 401)
            let unknown = try await client.request(.POST, "/webhooks/kommo-chats/another-scope", body: body,
                                                   headers: [("X-Signature", Self.signature(body))])
            #expect(unknown.status == 404, "\(unknown.text)")
            let huge = Data(repeating: UInt8(ascii: "a"), count: 300 * 1024)
            let tooLarge = try await client.request(.POST, path, body: huge, headers: [("X-Signature", Self.signature(huge))])
            #expect(tooLarge.status == 413, "\(tooLarge.text)")
        }
    }
}
