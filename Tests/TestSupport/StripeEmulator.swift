import Basics
import Crypto
import Foundation
import Hummingbird
import Synchronization

/// Stripe on loopback, for what `localstripe` lacks: Checkout Sessions, Billing Portal sessions and
/// Billing Meter events. Every call is checked as Stripe checks it — `Authorization: Bearer sk_…`, a
/// form-encoded body, an `Idempotency-Key` (the same key with another body is refused, with the same
/// body answers the first answer again) — and what breaks the rules is answered 400 and recorded in
/// ``violations``.
package final class StripeEmulator: Sendable {
    package struct MeterEvent: Sendable, Equatable {
        package var eventName: String
        package var customer: String
        package var value: Int64
        package var identifier: String
        package var timestamp: Int64
    }

    package let secretKey: String
    private struct State {
        var received: [ReceivedRequest] = []
        var violations: [String] = []
        /// Idempotency-Key → (body, answer).
        var idempotent: [String: (String, JSONValue)] = [:]
        var checkouts: [[String: String]] = []
        var portals: [[String: String]] = []
        var meterEvents: [MeterEvent] = []
        var meterIdentifiers: Set<String> = []
        /// Meter calls answered 429 before the next is accepted.
        var throttleMeters = 0
        var inFlightMeters: [String: Int] = [:]
        var maxConcurrentMeterCalls = 0
        var meterDelay: Duration = .zero
        var counter = 0
    }
    private let state = Mutex(State())
    /// The clock meter-event timestamps are judged by (Stripe: at most 35 days past, 5 minutes ahead).
    private let now: @Sendable () -> Date

    package init(secretKey: String = "sk_test_emulator_0123456789", now: @escaping @Sendable () -> Date = { Date() }) {
        self.secretKey = secretKey
        self.now = now
    }

    package var received: [ReceivedRequest] { state.withLock { $0.received } }
    package var violations: [String] { state.withLock { $0.violations } }
    package var checkouts: [[String: String]] { state.withLock { $0.checkouts } }
    package var portals: [[String: String]] { state.withLock { $0.portals } }
    package var meterEvents: [MeterEvent] { state.withLock { $0.meterEvents } }
    package var maxConcurrentMeterCalls: Int { state.withLock { $0.maxConcurrentMeterCalls } }

    /// The next `count` meter-event calls answer 429.
    package func throttleMeterEvents(_ count: Int) { state.withLock { $0.throttleMeters = count } }
    /// Each meter-event call waits this long before answering.
    package func delayMeterEvents(_ delay: Duration) { state.withLock { $0.meterDelay = delay } }

    /// Decodes `application/x-www-form-urlencoded` as Stripe does (keys keep their brackets).
    package static func decodeForm(_ text: String) -> [String: String]? {
        var form: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2,
                  let key = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                  let value = String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding else { return nil }
            form[key] = value
        }
        return form
    }

    private func refuse(_ message: String, status: Int = 400) -> Response {
        state.withLock { $0.violations.append(message) }
        return Reply.json(status, JSONValue.object(["error": .object(["type": "invalid_request_error", "message": .string(message)])]))
    }

    /// The server's handler, for ``withTestServer``.
    package func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 1024 * 1024)
        let received = ReceivedRequest(request, body: body)
        state.withLock { $0.received.append(received) }
        guard received.headers["authorization"] == "Bearer \(secretKey)" else {
            return refuse("Invalid API Key provided: \(received.headers["authorization"] ?? "none")", status: 401)
        }
        guard received.method == "POST" else { return refuse("unknown route \(received.method) \(received.path)", status: 404) }
        guard received.headers["content-type"]?.hasPrefix("application/x-www-form-urlencoded") == true else {
            return refuse("\(received.path): the body must be application/x-www-form-urlencoded")
        }
        guard let form = Self.decodeForm(received.text) else { return refuse("\(received.path): the body is not a valid form") }
        guard let key = received.headers["idempotency-key"], !key.isEmpty, key.count <= 255 else {
            return refuse("\(received.path): no Idempotency-Key")
        }
        let scoped = received.path + "|" + key
        if let earlier = state.withLock({ $0.idempotent[scoped] }) {
            guard earlier.0 == received.text else {
                return refuse("Keys for idempotent requests can only be used with the same parameters they were first used with.")
            }
            return Reply.json(200, earlier.1, headers: [("Idempotent-Replayed", "true")])
        }
        let outcome: Outcome
        switch received.path {
        case "/v1/checkout/sessions": outcome = checkout(form)
        case "/v1/billing_portal/sessions": outcome = portal(form)
        case "/v1/billing/meter_events": return await meterEvent(form)
        default: return refuse("unknown route \(received.path)", status: 404)
        }
        switch outcome {
        case .created(let value):
            state.withLock { $0.idempotent[scoped] = (received.text, value) }
            return Reply.json(200, value)
        case .refused(let response):
            return response
        }
    }

    private enum Outcome {
        case created(JSONValue)
        case refused(Response)
    }

    private func nextID(_ prefix: String) -> String {
        state.withLock { $0.counter += 1; return prefix + String(format: "%08d", $0.counter) }
    }

    private func checkout(_ form: [String: String]) -> Outcome {
        guard form["mode"] == "subscription" else { return .refused(refuse("checkout: mode must be subscription, got \(form["mode"] ?? "none")")) }
        guard let price = form["line_items[0][price]"], price.hasPrefix("price_") else { return .refused(refuse("checkout: line_items[0][price] is required")) }
        guard form["line_items[0][quantity]"] == "1" else { return .refused(refuse("checkout: line_items[0][quantity] must be 1")) }
        guard let tenant = form["client_reference_id"], !tenant.isEmpty, tenant.count <= 200 else { return .refused(refuse("checkout: client_reference_id is required")) }
        guard let success = form["success_url"], success.hasPrefix("http") else { return .refused(refuse("checkout: success_url must be a URL")) }
        let id = nextID("cs_test_")
        let value: JSONValue = ["id": .string(id), "object": "checkout.session", "mode": "subscription", "client_reference_id": .string(tenant),
                                "url": .string("https://checkout.stripe.test/c/pay/\(id)"), "status": "open"]
        state.withLock { $0.checkouts.append(form) }
        return .created(value)
    }

    private func portal(_ form: [String: String]) -> Outcome {
        guard let customer = form["customer"], customer.hasPrefix("cus_") else { return .refused(refuse("portal: customer is required")) }
        guard form["return_url"]?.hasPrefix("http") == true else { return .refused(refuse("portal: return_url must be a URL")) }
        let id = nextID("bps_")
        state.withLock { $0.portals.append(form) }
        return .created(["id": .string(id), "object": "billing_portal.session", "customer": .string(customer),
                       "url": .string("https://billing.stripe.test/p/session/\(id)")])
    }

    private func meterEvent(_ form: [String: String]) async -> Response {
        guard let name = form["event_name"], !name.isEmpty, name.count <= 100 else { return refuse("meter_events: event_name is required") }
        guard let customer = form["payload[stripe_customer_id]"], customer.hasPrefix("cus_") else {
            return refuse("meter_events: payload[stripe_customer_id] is required")
        }
        guard let text = form["payload[value]"], let value = Int64(text), value >= 0 else { return refuse("meter_events: payload[value] must be a whole number") }
        guard let identifier = form["identifier"], !identifier.isEmpty, identifier.count <= 100 else { return refuse("meter_events: identifier is required") }
        guard let stamp = form["timestamp"].flatMap({ Int64($0) }) else { return refuse("meter_events: timestamp is required") }
        let nowSeconds = Int64(now().timeIntervalSince1970)
        guard stamp >= nowSeconds - 35 * 86_400, stamp <= nowSeconds + 300 else {
            return refuse("meter_events: timestamp must be within the past 35 days and at most 5 minutes ahead")
        }
        let lane = customer + "|" + name
        let (throttled, delay) = state.withLock { state -> (Bool, Duration) in
            state.inFlightMeters[lane, default: 0] += 1
            state.maxConcurrentMeterCalls = max(state.maxConcurrentMeterCalls, state.inFlightMeters[lane]!)
            if state.throttleMeters > 0 { state.throttleMeters -= 1; return (true, state.meterDelay) }
            return (false, state.meterDelay)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        defer { state.withLock { $0.inFlightMeters[lane, default: 1] -= 1 } }
        if throttled {
            return Reply.json(429, JSONValue.object(["error": .object(["type": "rate_limit_error", "message": "Too many requests"])]),
                              headers: [("Retry-After", "1")])
        }
        state.withLock { state in
            // Stripe counts an identifier once: a retry of an event it has is not a second event.
            if state.meterIdentifiers.insert(identifier).inserted {
                state.meterEvents.append(MeterEvent(eventName: name, customer: customer, value: value, identifier: identifier, timestamp: stamp))
            }
        }
        return Reply.json(200, JSONValue.object(["object": "billing.meter_event", "event_name": .string(name), "identifier": .string(identifier),
                                                 "timestamp": .int(stamp)]))
    }

    // MARK: - Signed webhooks

    /// A Stripe event body.
    package static func event(id: String, type: String, created: Int64, object: JSONValue) -> Data {
        JSONValue.object(["id": .string(id), "object": "event", "type": .string(type), "created": .int(created), "api_version": "2025-03-31.basil",
                          "livemode": false, "data": .object(["object": object])]).data()
    }

    /// The `Stripe-Signature` Stripe would send for `body`.
    package static func signature(body: Data, secret: String, timestamp: Int64, extraSecrets: [String] = []) -> String {
        ([secret] + extraSecrets).map { "v1=" + sign(body: body, secret: $0, timestamp: timestamp) }
            .reduce("t=\(timestamp)") { $0 + "," + $1 }
    }

    package static func sign(body: Data, secret: String, timestamp: Int64) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        return HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8))).map { String(format: "%02x", $0) }.joined()
    }

    /// A subscription object as Stripe's events carry it (basil: the period on the item).
    package static func subscription(id: String, customer: String, status: String, price: String, created: Int64, periodEnd: Int64,
                                     cancelAtPeriodEnd: Bool = false, tenant: String? = nil) -> JSONValue {
        var metadata: [String: JSONValue] = [:]
        if let tenant { metadata["tenant_id"] = .string(tenant) }
        return ["id": .string(id), "object": "subscription", "customer": .string(customer), "status": .string(status), "created": .int(created),
                "cancel_at_period_end": .bool(cancelAtPeriodEnd), "metadata": .object(metadata),
                "items": ["object": "list", "data": [["id": "si_1", "price": ["id": .string(price), "object": "price"],
                                                      "current_period_end": .int(periodEnd)]]]]
    }

    /// An invoice object (basil: the subscription under `parent`, the price under `pricing`).
    package static func invoice(id: String, customer: String, subscription: String, price: String, created: Int64, paid: Bool,
                                amount: Int64 = 4900, periodEnd: Int64? = nil) -> JSONValue {
        ["id": .string(id), "object": "invoice", "customer": .string(customer), "status": paid ? "paid" : "open", "created": .int(created),
         "amount_due": .int(amount), "amount_paid": .int(paid ? amount : 0), "currency": "eur",
         "parent": ["type": "subscription_details", "subscription_details": ["subscription": .string(subscription)]],
         "lines": ["object": "list", "data": [["id": "il_1", "pricing": ["price_details": ["price": .string(price)]],
                                               "period": ["start": .int(created), "end": .int(periodEnd ?? created + 30 * 86_400)]]]]]
    }
}
