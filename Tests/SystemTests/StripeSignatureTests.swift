import Foundation
import Gateway
import TestSupport
import Testing

/// `Stripe-Signature` as Stripe specifies it: each case accepted or refused as Stripe's libraries do.
@Suite("Stripe webhook signatures")
struct StripeSignatureTests {
    let secret = "whsec_test_secret_0123456789"
    let body = Data(#"{"id":"evt_1","type":"invoice.paid","created":1764700000,"data":{"object":{"id":"in_1"}}}"#.utf8)
    let now = Date(timeIntervalSince1970: 1_764_700_000)
    var t: Int64 { Int64(now.timeIntervalSince1970) }

    func verdict(_ header: String?, body: Data? = nil, secrets: [String]? = nil, at: Date? = nil) -> StripeSignature.Verdict {
        StripeSignature.verify(header: header, body: body ?? self.body, secrets: secrets ?? [secret], now: at ?? now)
    }

    @Test("a valid signature is accepted, and our signer agrees with an independent HMAC")
    func valid() {
        let header = StripeEmulator.signature(body: body, secret: secret, timestamp: t)
        #expect(verdict(header) == .valid)
        let ours = StripeSignature.sign(body: body, timestamp: t, secret: secret)
        let theirs = StripeEmulator.sign(body: body, secret: secret, timestamp: t)
        #expect(ours == theirs)
        // Stripe's scheme v0 and unknown items beside v1 are ignored.
        #expect(verdict("t=\(t),v0=deadbeef,v1=\(ours),x=1") == .valid)
    }

    @Test("a tampered body, a wrong secret and a signature of another timestamp are refused")
    func tampered() {
        let header = StripeEmulator.signature(body: body, secret: secret, timestamp: t)
        var changed = body
        changed[changed.startIndex + 10] ^= 0x01
        #expect(verdict(header, body: changed) == .mismatch)
        #expect(verdict(header, body: body + Data(" ".utf8)) == .mismatch)
        #expect(verdict(StripeEmulator.signature(body: body, secret: "whsec_other_secret_000", timestamp: t)) == .mismatch)
        let signature = StripeEmulator.sign(body: body, secret: secret, timestamp: t)
        #expect(verdict("t=\(t - 1),v1=\(signature)") == .mismatch)
    }

    @Test("timestamps more than 300 s old or ahead are refused; at the edge they pass")
    func tolerance() {
        for (offset, expected) in [(-301, StripeSignature.Verdict.outsideTolerance), (301, .outsideTolerance), (-300, .valid), (300, .valid),
                                   (-86_400, .outsideTolerance)] {
            let stamp = t + Int64(offset)
            let header = StripeEmulator.signature(body: body, secret: secret, timestamp: stamp)
            #expect(verdict(header) == expected, "offset \(offset)")
        }
    }

    @Test("during a secret rotation any matching v1 is enough, on either side")
    func rotation() {
        let old = "whsec_old_secret_0123456789"
        // Stripe signs with both secrets: we know only the new one.
        #expect(verdict(StripeEmulator.signature(body: body, secret: old, timestamp: t, extraSecrets: [secret])) == .valid)
        // We are configured with both; Stripe signs with the old one only.
        #expect(verdict(StripeEmulator.signature(body: body, secret: old, timestamp: t), secrets: [secret, old]) == .valid)
        // Neither matches.
        #expect(verdict(StripeEmulator.signature(body: body, secret: old, timestamp: t, extraSecrets: ["whsec_third_000000"])) == .mismatch)
    }

    @Test("malformed headers are refused as malformed, never checked")
    func malformed() {
        let signature = StripeEmulator.sign(body: body, secret: secret, timestamp: t)
        let cases: [String?] = [
            nil, "", "garbage", "t=\(t)", "v1=\(signature)", "t=,v1=\(signature)", "t=abc,v1=\(signature)", "t=-5,v1=\(signature)",
            "t=\(t),t=\(t),v1=\(signature)", "t=\(t),v1=", "t=\(t),v1=\(signature.prefix(63))", "t=\(t),v1=\(signature)zz",
            "t=\(t),,v1=\(signature)", "=\(t),v1=\(signature)", "t=\(t);v1=\(signature)", "t=\(t),v1=\(String(repeating: "g", count: 64))",
            String(repeating: "t=1,", count: 2000),
        ]
        for header in cases {
            let result = verdict(header)
            if case .malformed = result {} else { Issue.record("\(header ?? "nil") answered \(result)") }
        }
    }
}

/// The plans file: the shipped one reads, and every mistake stops startup with a message naming it.
@Suite("Billing plans file")
struct PlanCatalogTests {
    static var shippedPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/plans.json").path
    }

    @Test("the shipped plans are free, starter and pro, free being the default")
    func shipped() throws {
        let catalog = try PlanCatalog.load(path: Self.shippedPath)
        #expect(catalog.plans.map(\.id) == ["free", "starter", "pro"])
        #expect(catalog.defaultPlan.id == "free")
        #expect(catalog.plan(priceID: "price_pro_monthly")?.id == "pro")
        #expect(catalog.plan(id: "free")?.limits.aiRepliesPerMonth == 100)
        #expect(catalog.plan(id: "pro")?.limits.webhookEventsPerMonth == nil)
        #expect(catalog.meters["ai_reply"] == "ai_replies")
    }

    @Test("mistakes are named")
    func mistakes() throws {
        let limits = #""agents":1,"active_rules":1,"active_sequences":1,"active_enrollments":1,"ai_replies_per_month":1,"messages_per_month":1,"webhook_events_per_month":1"#
        func plans(_ body: String, default name: String = "free") -> String { #"{"default_plan":"\#(name)","plans":[\#(body)]}"# }
        let free = #"{"id":"free","name":"Free","stripe_price_id":null,"limits":{\#(limits)}}"#
        let cases: [(String, String)] = [
            ("not json", "not a JSON object"),
            (plans(free).replacingOccurrences(of: "\"plans\"", with: "\"plan\""), "unknown key `plan`"),
            (plans(free.replacingOccurrences(of: "\"agents\":1,", with: "")), "limits.agents is missing"),
            (plans(free.replacingOccurrences(of: "\"agents\":1", with: "\"agents\":-1")), "limits.agents must be a whole number"),
            (plans(free.replacingOccurrences(of: "\"agents\":1", with: "\"agents\":\"5\"")), "limits.agents must be a whole number"),
            (plans(free.replacingOccurrences(of: "\"agents\":1", with: "\"agents\":1.5")), "limits.agents must be a whole number"),
            (plans(free.replacingOccurrences(of: "\"agents\":1", with: "\"agents\":1,\"seats\":2")), "unknown key `seats`"),
            (plans(free + "," + free), "id free is used twice"),
            (plans(free, default: "gold"), "default_plan` gold is not a plan"),
            (plans(free.replacingOccurrences(of: "null", with: "\"price_1\"")), "must have no stripe_price_id"),
            (plans(free.replacingOccurrences(of: "null", with: "\"prod_1\"")), "must be a Stripe price id"),
            (plans(free.replacingOccurrences(of: "\"Free\"", with: "7")), "name must be"),
        ]
        for (text, expected) in cases {
            do {
                _ = try PlanCatalog.parse(Data(text.utf8), source: "test.json")
                Issue.record("accepted: \(text)")
            } catch {
                let message = "\(error)"
                #expect(message.contains(expected), "\(message)")
                #expect(message.hasPrefix("plans file test.json: "))
            }
        }
        #expect(throws: Never.self) { try PlanCatalog.parse(Data(plans(free).utf8), source: "ok") }
    }

    @Test("billing is off without Stripe settings, and half-set settings stop startup")
    func settings() throws {
        let off = try BillingOptions.parse([]).configuration(publicBaseURL: "http://localhost:8080", environment: [:])
        #expect(!off.enabled)
        #expect(off.catalog.defaultPlan.limits == .unlimited)
        #expect(throws: (any Error).self) {
            try BillingOptions.parse([]).configuration(publicBaseURL: "http://x", environment: ["STRIPE_BASE_URL": "http://127.0.0.1:1"])
        }
        let environment = ["STRIPE_BASE_URL": "http://127.0.0.1:1", "STRIPE_SECRET_KEY": "sk_test_123456", "STRIPE_WEBHOOK_SECRET": "whsec_a_0123456789,whsec_b_0123456789"]
        #expect(throws: (any Error).self) { try BillingOptions.parse([]).configuration(publicBaseURL: "http://x", environment: environment) }
        var full = environment
        full["BILLING_PLANS"] = PlanCatalogTests.shippedPath
        let on = try BillingOptions.parse([]).configuration(publicBaseURL: "http://x/", environment: full)
        #expect(on.enabled)
        #expect(on.stripe?.webhookSecrets.count == 2)
        #expect(on.returnURL == "http://x/admin/#/billing")
        var badKey = full
        badKey["STRIPE_SECRET_KEY"] = "pk_test_123456"
        #expect(throws: (any Error).self) { try BillingOptions.parse([]).configuration(publicBaseURL: "http://x", environment: badKey) }
    }
}
