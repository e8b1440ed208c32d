import TestSupport
import Foundation
import Sequences
import Testing
import Wire

/// OAuth: an access token Kommo refuses is renewed once with the stored refresh token, the new tokens are
/// stored sealed, and the call is made again.
@Suite struct KommoTokenRenewalTests {
    static let client = KommoEmulator.OAuthClient(clientID: "client-7f1e", clientSecret: "client-secret-9a2b",
                                                  redirectURI: "https://agents.example/oauth/kommo", refreshToken: "refresh-0")

    private func connect(_ tenant: TenantCalls, kommo: KommoEmulator, port: Int, refreshToken: String = "refresh-0") async throws {
        try await tenant.updateIntegrations("""
            {"kommo": {"base_url": "http://127.0.0.1:\(port)", "access_token": "\(kommo.token)", "rate_limit_per_second": 50,
                       "refresh_token": "\(refreshToken)", "client_id": "\(Self.client.clientID)",
                       "client_secret": "\(Self.client.clientSecret)", "redirect_uri": "\(Self.client.redirectURI)"}}
            """)
    }

    private func tasks(_ kommo: KommoEmulator) -> [ReceivedRequest] {
        kommo.received.filter { $0.path == "/api/v4/tasks" }
    }

    @Test func anExpiredTokenIsRenewedOnceStoredAndTheCallRepeated() async throws {
        let kommo = KommoEmulator(oauth: Self.client)
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                kommo.expireAccessToken()
                try await acme.schedule((1...3).map { planned("renew-\($0)", #"{"type": "create_task", "text": "Call", "due_in_seconds": 60}"#, lead: Int64($0)) })
                try await eventually("three tasks") {
                    try await acme.actionLog().filter { $0["outcome"]?.string == "succeeded" }.count == 3
                }
                // One refresh for the burst; each task created once, with the new token.
                #expect(kommo.refreshes == 1)
                #expect(kommo.tasksCreated == 3)
                let (access, refresh) = kommo.currentTokens
                let accepted = tasks(kommo).filter { $0.headers["authorization"] == "Bearer \(access)" }
                #expect(Set(accepted.flatMap { ($0.json?.array ?? []).compactMap { $0["request_id"]?.string } }) == ["renew-1", "renew-2", "renew-3"])
                let grant = try #require(kommo.received.first { $0.path == "/oauth2/access_token" }?.json)
                #expect(grant["grant_type"]?.string == "refresh_token")
                #expect(grant["refresh_token"]?.string == "refresh-0")
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
                let log = try await acme.actionLog()
                #expect(log.contains { $0["detail"]?.string?.hasPrefix("access token renewed after a 401") == true })

                // The new tokens are stored (the next call needs no refresh) and never shown.
                let document = try await acme.integrations()
                #expect(!document.json.contains(access) && !document.json.contains(refresh ?? "-"))
                #expect(document.json.contains(#""refresh_token_set":true"#))
                try await acme.schedule([planned("renew-4", #"{"type": "create_task", "text": "Call", "due_in_seconds": 60}"#, lead: 4)])
                try await eventually("the fourth task") { kommo.tasksCreated == 4 }
                #expect(kommo.refreshes == 1)
                #expect(tasks(kommo).last?.headers["authorization"] == "Bearer \(access)")
            }
        }
    }

    @Test func aRefusedRefreshLeavesTheBadTokenFailure() async throws {
        let kommo = KommoEmulator(oauth: Self.client)
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port, refreshToken: "revoked")
                kommo.expireAccessToken()
                try await acme.schedule([planned("no-renew", #"{"type": "create_task", "text": "Call", "due_in_seconds": 60}"#)])
                try await eventually("the failure") { try await acme.actionLog().contains { $0["outcome"]?.string == "failed" } }
                let entry = try #require(try await acme.actionLog().first)
                #expect(entry["http_status"]?.int64 == 401)
                #expect(entry["detail"]?.string?.contains("bad token") == true)
                #expect(kommo.received.filter { $0.path == "/oauth2/access_token" }.count == 1)
                #expect(tasks(kommo).count == 1)
                #expect(kommo.tasksCreated == 0)
            }
        }
    }

    @Test func aRefreshTokenNeedsTheOAuthClient() async throws {
        try await SequenceHarness.run { service in
            let acme = service.tenant("acme")
            await #expect(throws: RPCError.self) {
                try await acme.updateIntegrations(#"{"kommo": {"subdomain": "acme", "access_token": "t", "refresh_token": "r"}}"#)
            }
            do {
                try await acme.updateIntegrations(#"{"kommo": {"subdomain": "acme", "access_token": "t", "refresh_token": "r"}}"#)
            } catch let error as RPCError {
                #expect(Set(error.violations.map(\.field)) == ["kommo.client_id", "kommo.client_secret", "kommo.redirect_uri"])
            }
        }
    }
}
