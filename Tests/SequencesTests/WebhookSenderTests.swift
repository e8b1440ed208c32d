import TestSupport
import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import Sequences
import Synchronization
import Testing

/// A receiver of outgoing webhooks that verifies the Standard Webhooks signature itself, the way a
/// third-party receiver would (its own HMAC, not our helper).
private final class WebhookReceiver: Sendable {
    let key: [UInt8]
    private let state = Mutex<(received: [ReceivedRequest], script: [Int], verified: [Bool])>(([], [], []))

    init(key: [UInt8]) { self.key = key }

    /// Statuses to answer the next requests with, before answering 204.
    func enqueue(_ statuses: Int...) { state.withLock { $0.script += statuses } }
    var received: [ReceivedRequest] { state.withLock { $0.received } }
    var verified: [Bool] { state.withLock { $0.verified } }

    @Sendable func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let received = ReceivedRequest(request, body: try await request.body.collect(upTo: 1 << 20))
        let id = received.headers["webhook-id"] ?? ""
        let timestamp = received.headers["webhook-timestamp"] ?? ""
        let signed = Array("\(id).\(timestamp).".utf8) + received.body
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))).base64EncodedString()
        let fresh = Int64(timestamp).map { abs(Int64(Date().timeIntervalSince1970) - $0) <= 300 } ?? false
        let ok = fresh && (received.headers["webhook-signature"] ?? "").split(separator: " ").contains { $0 == expected }
            && received.headers["content-type"] == "application/json"
        let status: Int = state.withLock { state in
            state.received.append(received)
            state.verified.append(ok)
            return state.script.isEmpty ? 204 : state.script.removeFirst()
        }
        if status == 302 {
            return Reply.json(302, "", headers: [("Location", "/elsewhere")])
        }
        if status == 599 {
            try await Task.sleep(for: .seconds(2))
            return Reply.empty(204)
        }
        return ok ? Reply.empty(status) : Reply.json(401, #"{"title":"Unauthorized","detail":"bad signature"}"#)
    }
}

private let secretText = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

private func withReceiver<T: Sendable>(
    allowPrivate: Bool = true, timeout: Duration = .seconds(5),
    _ body: (WebhookReceiver, WebhookSender, Int) async throws -> T
) async throws -> T {
    let secret = try #require(WebhookSecret(secretText))
    let receiver = WebhookReceiver(key: secret.key)
    return try await withTestServer(receiver.handle) { port in
        let gate = EgressGate(policy: allowPrivate ? .loopbackTesting : EgressPolicy())
        let sender = WebhookSender(egress: gate, configuration: .init(retry: fastRetry, requestTimeout: timeout))
        return try await body(receiver, sender, port)
    }
}

@Suite("WebhookSender")
struct WebhookSenderTests {
    private let payload = Array(#"{"lead":{"id":42,"name":"Big deal"},"event":"stage_changed"}"#.utf8)
    private var secret: WebhookSecret { WebhookSecret(secretText)! }

    @Test("a webhook carries id, timestamp and a signature the receiver verifies")
    func signedDelivery() async throws {
        try await withReceiver { receiver, sender, port in
            let result = await sender.send(url: "http://127.0.0.1:\(port)/hooks/kommo?token=abc", payload: payload,
                                           messageID: "msg_evt-1_rule-2_0", secret: secret, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.httpStatus == 204)
            #expect(result.target == "POST http://127.0.0.1:\(port)/hooks/kommo", "the query may hold a secret; it is not logged")
            #expect(receiver.verified == [true])
            let request = try #require(receiver.received.first)
            #expect(request.headers["webhook-id"] == "msg_evt-1_rule-2_0")
            #expect(request.body == payload)
            #expect(StandardWebhookSignature.verify(
                header: request.headers["webhook-signature"] ?? "", id: "msg_evt-1_rule-2_0",
                timestamp: Int64(request.headers["webhook-timestamp"] ?? "") ?? 0, body: payload, secret: secret))
        }
    }

    @Test("5xx is retried with the same webhook-id, then succeeds")
    func retries() async throws {
        try await withReceiver { receiver, sender, port in
            receiver.enqueue(500, 503)
            let result = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: payload, messageID: "m1",
                                           secret: secret, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.attempts == 3)
            #expect(receiver.received.map { $0.headers["webhook-id"] } == ["m1", "m1", "m1"])
            #expect(receiver.verified == [true, true, true])
        }
    }

    @Test("a timeout on every attempt ends failed_retryable")
    func timeouts() async throws {
        try await withReceiver(timeout: .milliseconds(150)) { receiver, sender, port in
            receiver.enqueue(599, 599, 599, 599)
            let result = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: payload, messageID: "m",
                                           secret: secret, logger: quietLogger)
            #expect(result.outcome == .failedRetryable)
            #expect(result.attempts == fastRetry.maxAttempts)
            #expect(result.detail == "timed out")
        }
    }

    @Test("a 4xx is permanent; a redirect is not followed")
    func permanentAndRedirect() async throws {
        try await withReceiver { receiver, sender, port in
            receiver.enqueue(410)
            let gone = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: payload, messageID: "m",
                                         secret: secret, logger: quietLogger)
            #expect(gone.outcome == .failedPermanent)
            #expect(gone.attempts == 1)
            receiver.enqueue(302)
            let moved = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: payload, messageID: "m",
                                          secret: secret, logger: quietLogger)
            #expect(moved.outcome == .failedPermanent)
            #expect(moved.detail?.contains("redirect") == true)
            #expect(receiver.received.count == 2, "the redirect target was not requested")
        }
    }

    @Test("a wrong secret fails the receiver's verification")
    func wrongSecret() async throws {
        try await withReceiver { receiver, sender, port in
            let other = try #require(WebhookSecret("whsec_" + Data(repeating: 7, count: 24).base64EncodedString()))
            let result = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: payload, messageID: "m",
                                           secret: other, logger: quietLogger)
            #expect(result.outcome == .failedPermanent)
            #expect(result.httpStatus == 401)
            #expect(receiver.verified == [false])
        }
    }

    @Test("private, loopback and metadata targets are refused unless allowed")
    func refusesPrivateTargets() async throws {
        try await withReceiver(allowPrivate: false) { receiver, sender, port in
            for host in ["127.0.0.1", "localhost", "[::1]"] {
                let result = await sender.send(url: "http://\(host):\(port)/h", payload: payload, messageID: "m",
                                               secret: secret, logger: quietLogger)
                #expect(result.outcome == .failedPermanent, "\(host)")
                #expect(result.attempts == 0)
                #expect(result.detail?.contains("not allowed") == true, "\(host): \(result.detail ?? "")")
            }
            #expect(receiver.received.isEmpty, "nothing reached the receiver")
            // These are only checked, never connected to: the check refuses before any socket opens.
            for url in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.8/h", "http://172.20.1.1/h",
                        "http://192.168.1.10/h", "http://0.0.0.0/h", "http://[fd00:ec2::254]/h", "http://[fe80::1]/h",
                        "http://[::ffff:127.0.0.1]/h", "http://100.64.0.1/h"] {
                guard case .refused = await sender.checkTarget(url) else {
                    Issue.record("\(url) was not refused")
                    continue
                }
            }
            #expect(await sender.checkTarget("https://93.184.215.14/hook") == .allowed)
            #expect(await sender.checkTarget("ftp://example.com/") == .refused("not an http(s) URL"))
        }
        try await withReceiver(allowPrivate: true) { receiver, sender, port in
            let result = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: payload, messageID: "m",
                                           secret: secret, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(receiver.received.count == 1)
        }
    }

    @Test("address policy covers the private and special ranges")
    func addressPolicy() throws {
        let refused = ["10.1.2.3", "127.0.0.1", "127.255.0.9", "169.254.169.254", "172.16.0.1", "172.31.255.255",
                       "192.168.0.1", "0.0.0.0", "::1", "::", "fc00::1", "fdff::1", "fe80::abcd", "::ffff:10.0.0.1"]
        for text in refused {
            let address = try #require(IPAddress(text), "\(text)")
            #expect(SpecialAddresses.refusal(for: address) != nil, "\(text)")
        }
        for text in ["8.8.8.8", "172.15.0.1", "172.32.0.1", "192.169.0.1", "2001:4860:4860::8888", "169.253.1.1"] {
            let address = try #require(IPAddress(text))
            #expect(SpecialAddresses.refusal(for: address) == nil, "\(text)")
        }
        #expect(IPAddress("example.com") == nil)
        #expect(IPAddress("[::1]")?.description == "::1")
    }

    @Test("payloads must be JSON; secrets accept the whsec_ format")
    func inputs() async throws {
        try await withReceiver { receiver, sender, port in
            let result = await sender.send(url: "http://127.0.0.1:\(port)/h", payload: Array("not json".utf8),
                                           messageID: "m", secret: secret, logger: quietLogger)
            #expect(result.outcome == .failedPermanent)
            #expect(receiver.received.isEmpty)
        }
        #expect(WebhookSecret("whsec_!!notbase64") == nil)
        #expect(WebhookSecret("whsec_") == nil)
        #expect(WebhookSecret("plain-shared-secret")?.key == Array("plain-shared-secret".utf8))
        #expect(WebhookSecret(secretText)?.key.count == 24)
        #expect(WebhookSecret(WebhookSecret.generate()) != nil)
        // Reference vector from the Standard Webhooks specification.
        let reference = try #require(WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let signature = StandardWebhookSignature.signature(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
            body: Array(#"{"test": 2432232314}"#.utf8), secret: reference)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }
}
