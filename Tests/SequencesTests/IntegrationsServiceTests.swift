import TestSupport
import Foundation
import Sequences
import ServiceKit
import Testing
import Wire

/// Integrations over RPC against the real sequence-service: validation, write-only secrets, tenancy.
@Suite struct IntegrationsServiceTests {
    @Test func secretsAreWriteOnlyAndSealedAtRest() async throws {
        try await SequenceHarness.run { service in
            let acme = service.tenant("acme")
            let written = try await acme.updateIntegrations("""
                {"kommo": {"base_url": "https://acme.kommo.com", "access_token": "tok-SECRET-kommo-1"},
                 "messages": {"mode": "chats_api", "chats_api": {"scope_id": "scope-1", "channel_secret": "chan-SECRET-2"}},
                 "webhooks": {"secret": "plain-SECRET-hook-3"},
                 "ai": {"provider": "openai", "api_key": "sk-SECRET-4", "model": "gpt-4o-mini"}}
                """)
            let read = try await acme.integrations()
            for document in [written, read] {
                for secret in ["tok-SECRET-kommo-1", "chan-SECRET-2", "plain-SECRET-hook-3", "sk-SECRET-4"] {
                    #expect(!document.json.contains(secret))
                }
            }
            let json = read.object
            #expect(json["kommo"]?["access_token_set"] == true)
            #expect(json["messages"]?["chats_api"]?["channel_secret_set"] == true)
            #expect(json["webhooks"]?["secret_set"] == true)
            #expect(json["ai"]?["api_key_set"] == true)
            #expect(json["kommo"]?["base_url"]?.string == "https://acme.kommo.com")
            #expect(read.version == 1)

            // A patch of one member keeps the others, secrets included.
            let patched = try await acme.updateIntegrations(#"{"kommo": {"rate_limit_per_second": 5}}"#, ifVersion: 1)
            #expect(patched.object["kommo"]?["access_token_set"] == true)
            #expect(patched.object["kommo"]?["rate_limit_per_second"]?.int64 == 5)
            let stale = await rpcFailure { try await acme.updateIntegrations(#"{"ai": {"model": "x"}}"#, ifVersion: 1) }
            #expect(stale?.code == .failedPrecondition)

            // Null removes a secret.
            let removed = try await acme.updateIntegrations(#"{"ai": {"provider": "template", "api_key": null}}"#)
            #expect(removed.object["ai"]?["api_key_set"] == false)

            // Nothing readable on disk: the database files do not hold the token in plain text.
            let files = try FileManager.default.contentsOfDirectory(atPath: service.dataDir)
            for file in files {
                let data = try Data(contentsOf: URL(fileURLWithPath: service.dataDir).appendingPathComponent(file))
                #expect(data.range(of: Data("tok-SECRET-kommo-1".utf8)) == nil, "token in plain text in \(file)")
            }
            // The key lives beside the data folder, not in it, and only its owner reads it.
            #expect(!FileManager.default.fileExists(atPath: service.dataDir + "/secrets.key"))
            let keyFile = SecretBox.defaultKeyFile(dataDir: service.dataDir, service: "sequence-service")
            let attributes = try FileManager.default.attributesOfItem(atPath: keyFile)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
    }

    @Test func webhookSecretIsGeneratedAndShownOnce() async throws {
        try await SequenceHarness.run { service in
            let acme = service.tenant("acme")
            let first = try await acme.updateIntegrations("{}")
            let generated = try #require(first.object["webhooks"]?["generated_secret"]?.string)
            #expect(generated.hasPrefix("whsec_"))
            #expect(first.object["webhooks"]?["secret_set"] == true)
            let read = try await acme.integrations()
            #expect(!read.json.contains(generated))
            let second = try await acme.updateIntegrations(#"{"messages": {"mode": "none"}}"#)
            #expect(second.object["webhooks"]?["generated_secret"] == nil)
        }
    }

    @Test func invalidPatchesAreRefusedByField() async throws {
        try await SequenceHarness.run { service in
            let acme = service.tenant("acme")
            let cases: [(String, String)] = [
                (#"{"kommo": {"token": "x"}}"#, "kommo.token"),
                (#"{"slack": {}}"#, "slack"),
                (#"{"messages": {"mode": "sms"}}"#, "messages.mode"),
                (#"{"kommo": {"base_url": "ftp://acme.kommo.com"}}"#, "kommo.base_url"),
                (#"{"ai": {"base_url": "javascript:alert(1)"}}"#, "ai.base_url"),
                (#"{"kommo": {"access_token_set": true}}"#, "kommo.access_token_set"),
                (#"{"messages": {"mode": "salesbot_field", "field_id": 5}}"#, "messages.bot_id"),
                (#"{"kommo": {"rate_limit_per_second": 0}}"#, "kommo.rate_limit_per_second"),
                (#"{"kommo": {"subdomain": "acme", "base_url": "https://acme.kommo.com"}}"#, "kommo.subdomain"),
                (#"[1, 2]"#, "json"),
            ]
            for (patch, field) in cases {
                let error = await rpcFailure { try await acme.updateIntegrations(patch) }
                #expect(error?.code == .invalidArgument, "\(patch)")
                #expect(error?.violations.map(\.field).contains(field) == true, "\(patch): \(error?.violations ?? [])")
            }
            // Nothing was stored by the refused patches.
            let unchanged = try await acme.integrations()
            #expect(unchanged.version == 0)
        }
    }

    @Test func integrationsAndLogsAreTenantScoped() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                let globex = service.tenant("globex")
                try await acme.updateIntegrations(#"{"kommo": {"base_url": "http://127.0.0.1:\#(port)", "access_token": "\#(kommo.token)"}}"#)
                let other = try await globex.integrations()
                #expect(other.version == 0)
                #expect(other.object["kommo"]?["access_token_set"] == false)
                #expect(other.object["kommo"]?["base_url"] == nil)

                let task = #"{"type": "create_task", "text": "Call back", "due_in_seconds": 3600}"#
                try await acme.schedule([planned("acme-1", task, lead: 10)])
                try await globex.schedule([planned("globex-1", task, lead: 10)])
                try await eventually("both actions logged") {
                    let acmeCount = try await acme.actionLog().count
                    let globexCount = try await globex.actionLog().count
                    return acmeCount == 1 && globexCount == 1
                }
                let acmeLog = try await acme.actionLog()
                let globexLog = try await globex.actionLog()
                #expect(acmeLog.first?["idempotency_key"]?.string == "acme-1")
                #expect(acmeLog.first?["outcome"]?.string == "succeeded")
                #expect(globexLog.first?["idempotency_key"]?.string == "globex-1")
                #expect(globexLog.first?["outcome"]?.string == "skipped")
                #expect(kommo.received.filter { $0.path == "/api/v4/tasks" }.count == 1)
                // A lead filter never crosses tenants either.
                let filtered = try await globex.actionLog(lead: 10)
                #expect(filtered.map { $0["idempotency_key"]?.string } == ["globex-1"])
            }
        }
    }
}
