import TestSupport
import Foundation
import Sequences
import Testing
import Wire

/// `kommo_action` operations that change lead and contact fields, carried out by the real
/// sequence-service against the Kommo emulator.
@Suite struct KommoFieldOperationsTests {
    private func patches(_ kommo: KommoEmulator) -> [ReceivedRequest] {
        kommo.received.filter { $0.method == "PATCH" }
    }

    @Test func updateLeadChangeResponsibleAndUpdateContactPatchWhatTheyName() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(.object([
            "id": 77, "name": "Ann's lead",
            "_embedded": .object(["contacts": .array([.object(["id": 501, "is_main": false]), .object(["id": 502, "is_main": true])])]),
        ]))
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await acme.updateIntegrations("""
                    {"kommo": {"base_url": "http://127.0.0.1:\(port)", "access_token": "\(kommo.token)", "rate_limit_per_second": 50}}
                    """)
                try await acme.schedule([planned("update-lead", """
                    {"type": "kommo_action", "operation": "update_lead",
                     "parameters": {"name": "Ann — premium", "price": "3100", "status_id": "61234502", "pipeline_id": "7100001",
                                    "responsible_user_id": "42", "cf.5551": "hot"}}
                    """)])
                try await eventually("the lead patch") { patches(kommo).count == 1 }
                try await acme.schedule([planned("responsible", #"{"type": "kommo_action", "operation": "change_responsible", "parameters": {"responsible_user_id": "43"}}"#)])
                try await eventually("the responsible patch") { patches(kommo).count == 2 }
                try await acme.schedule([planned("contact", #"{"type": "kommo_action", "operation": "update_contact", "parameters": {"first_name": "Ann", "cf.7001": "+55 11 5555"}}"#)])
                try await eventually("the contact patch") { patches(kommo).count == 3 }
                try await eventually("three log entries") { try await acme.actionLog().filter { $0["outcome"]?.string == "succeeded" }.count == 3 }

                let sent = patches(kommo)
                #expect(sent.map(\.path) == ["/api/v4/leads", "/api/v4/leads", "/api/v4/contacts/502"])
                #expect(sent.allSatisfy { $0.headers["authorization"] == "Bearer \(kommo.token)" })
                #expect(sent.allSatisfy { $0.headers["content-type"]?.hasPrefix("application/json") == true })
                let lead = try #require(sent[0].json?[0])
                #expect(lead["id"] == .int(77))
                #expect(lead["name"]?.string == "Ann — premium")
                #expect(lead["price"] == .int(3100))
                #expect(lead["status_id"] == .int(61234502))
                #expect(lead["pipeline_id"] == .int(7100001))
                #expect(lead["responsible_user_id"] == .int(42))
                #expect(lead["updated_by"] == .int(0))
                #expect(lead["custom_fields_values"]?[0]?["field_id"] == .int(5551))
                #expect(lead["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string == "hot")
                #expect(sent[1].json == .array([.object(["id": .int(77), "responsible_user_id": .int(43), "updated_by": .int(0)])]))
                let contact = try #require(sent[2].json)
                #expect(contact["first_name"]?.string == "Ann")
                #expect(contact["custom_fields_values"]?[0]?["field_id"] == .int(7001))
                #expect(contact["updated_by"] == .int(0))
                // The main contact was read first.
                #expect(kommo.received.contains { $0.method == "GET" && $0.path == "/api/v4/leads/77" })

                let log = try await acme.actionLog()
                #expect(Set(log.compactMap { $0["operation"]?.string }) == ["kommo.update_lead", "kommo.change_responsible", "kommo.update_contact"])
                #expect(log.contains { $0["target"]?.string == "PATCH /api/v4/contacts/502" })
                // Our own changes are reported so that their echoes do not fire rules.
                try await eventually("own writes") { service.rules.ownWrites.contains { $0.value == "responsible_user_id=43" } }
                #expect(service.rules.ownWrites.contains { $0.kind == .stageChange && $0.value == "61234502" })
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    @Test func aRefusedContactPatchFailsWithKommosProblem() async throws {
        let kommo = KommoEmulator()
        kommo.enqueue(.problem(status: 400, title: "Bad Request", detail: "Request validation failed",
                               validationErrors: [(path: "custom_fields_values.0.field_id", code: "NotSupportedChoice", detail: "no such field")]))
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await acme.updateIntegrations("""
                    {"kommo": {"base_url": "http://127.0.0.1:\(port)", "access_token": "\(kommo.token)", "rate_limit_per_second": 50}}
                    """)
                try await acme.schedule([planned("contact-bad", #"{"type": "kommo_action", "operation": "update_contact", "parameters": {"contact_id": "9", "cf.1": "x"}}"#)])
                try await eventually("the failure") { try await acme.actionLog().contains { $0["outcome"]?.string == "failed" } }
                let entry = try #require(try await acme.actionLog().first)
                #expect(entry["http_status"]?.int64 == 400)
                #expect(entry["target"]?.string == "PATCH /api/v4/contacts/9")
                #expect(entry["detail"]?.string?.contains("no such field") == true)
            }
        }
    }
}
