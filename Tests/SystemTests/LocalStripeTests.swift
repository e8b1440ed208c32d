import AsyncHTTPClient
import Basics
import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

private let localStripeBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/localstripe/bin/localstripe").path

/// Against `localstripe` (a stateful Stripe fake from PyPI, installed by `scripts/install-deps` into
/// `.build/localstripe`), run as a process on loopback: customers, subscriptions and invoices made there,
/// and the signed webhooks it sends, end in the tenant's billing state.
@Suite("localstripe", .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: localStripeBinary)))
struct LocalStripeTests {
    static var binary: String { localStripeBinary }
    static let secret = "whsec_localstripe_0123456789"
    static let key = "sk_test_localstripe_0123"

    /// A form POST to localstripe; answers its JSON.
    static func post(_ base: String, _ path: String, _ form: [(String, String)]) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: StripeClient.formEncode(form)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1024 * 1024)
        return JSONValue(parsing: body.readableBytesView) ?? .null
    }

    @Test("a subscription made at localstripe makes the tenant starter; its deletion blocks it; every event is kept")
    func subscriptionLifecycle() async throws {
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        // Without --from-scratch it would load the state another run left in its save file.
        process.arguments = ["--port", String(port), "--from-scratch"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // localstripe does not stop on SIGTERM.
        defer { kill(process.processIdentifier, SIGKILL) }
        let base = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 where !up {
            up = (try? await Self.post(base, "/v1/products", [("name", "probe")]))?["id"] != nil
            if !up { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(up, "localstripe did not start")
        let product = try await Self.post(base, "/v1/products", [("name", "Starter")])
        let plan = try await Self.post(base, "/v1/plans", [("id", "price_ls_starter"), ("product", product["id"]?.string ?? ""), ("amount", "4900"),
                                                             ("currency", "eur"), ("interval", "month")])
        #expect(plan["id"]?.string == "price_ls_starter", "\(plan)")

        let folder = temporaryFolder("localstripe-plans")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let plans = (folder as NSString).appendingPathComponent("plans.json")
        let limits = #""agents":1,"active_rules":5,"active_sequences":1,"active_enrollments":10,"ai_replies_per_month":10,"messages_per_month":10,"webhook_events_per_month":100"#
        try Data("""
            {"default_plan":"free","plans":[{"id":"free","name":"Free","stripe_price_id":null,"limits":{\(limits)}},
             {"id":"starter","name":"Starter","stripe_price_id":"price_ls_starter","limits":{\(limits)}}]}
            """.utf8).write(to: URL(fileURLWithPath: plans))
        let billing = try BillingConfiguration(stripeBaseURL: base, secretKey: Self.key, webhookSecrets: Self.secret,
                                               catalog: PlanCatalog.load(path: plans), returnURL: "http://kommo-agents.test/admin/")
        let system = try await FullSystem.make(tune: { $0.billing = billing })
        try await system.run { client in
            // localstripe signs its webhooks with this secret and posts them to the gateway.
            _ = try await Self.post(base, "/_config/webhooks/gateway", [("url", "http://127.0.0.1:\(client.port)/webhooks/stripe"),
                                                                       ("secret", Self.secret)])
            let tenant = try await client.createTenant(admin: system.adminToken)
            let token = try await Self.post(base, "/v1/tokens", [("card[number]", "4242424242424242"), ("card[exp_month]", "12"),
                                                                ("card[exp_year]", "2030"), ("card[cvc]", "123")])
            let customer = try await Self.post(base, "/v1/customers", [("email", "owner@acme.test"), ("source", token["id"]?.string ?? "")])
            let customerID = try #require(customer["id"]?.string, "\(customer)")
            let subscription = try await Self.post(base, "/v1/subscriptions", [("customer", customerID), ("items[0][plan]", "price_ls_starter"),
                                                                              ("metadata[tenant_id]", tenant.id)])
            let subscriptionID = try #require(subscription["id"]?.string, "\(subscription)")
            #expect(subscription["status"]?.string == "active")

            let starter = try await eventually(timeout: .seconds(20)) {
                let answer = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                return (answer.json["plan"] as? [String: Any])?["id"] as? String == "starter" && answer.json["status"] as? String == "active"
            }
            #expect(starter)
            let paid = try await eventually(timeout: .seconds(20)) {
                let answer = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                return (answer.json["invoices"] as? [[String: Any]] ?? []).contains { $0["status"] as? String == "paid" }
            }
            #expect(paid, "the invoice localstripe charged is shown paid")

            var request = HTTPClientRequest(url: base + "/v1/subscriptions/\(subscriptionID)")
            request.method = .DELETE
            request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
            _ = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let canceled = try await eventually(timeout: .seconds(20)) {
                let answer = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                return answer.json["status"] as? String == "canceled" && answer.json["blocked"] as? Bool == true
            }
            #expect(canceled)
            let answer = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
            let types = Set((answer.json["events"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String })
            #expect(types.isSuperset(of: ["customer.subscription.created", "customer.subscription.deleted"]), "\(types)")
        }
    }
}
