import AsyncHTTPClient
import Basics
import Foundation
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The calls the gateway makes to Stripe: form-encoded POSTs with the secret key and an
/// `Idempotency-Key`, bounded in time and size, no redirects followed.
package struct StripeClient: Sendable {
    package struct Failure: Error, CustomStringConvertible {
        package var status: Int
        package var message: String
        package var retryAfter: Int?
        package var description: String { "Stripe answered \(status): \(message)" }
    }

    let stripe: BillingConfiguration.Stripe
    let http: HTTPClient
    var timeout: Duration = .seconds(10)

    package init(stripe: BillingConfiguration.Stripe, http: HTTPClient) {
        self.stripe = stripe
        self.http = http
    }

    /// A client for Stripe: its own connection pool, no redirects.
    package static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// `application/x-www-form-urlencoded` as Stripe reads it: brackets for nested keys, every byte but
    /// the unreserved ones percent-encoded.
    package static func formEncode(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "" }
        return pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }

    /// POSTs a form to `path` (`/v1/checkout/sessions`…) and answers the JSON object.
    package func post(_ path: String, form: [(String, String)], idempotencyKey: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: stripe.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(stripe.secretKey)")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Idempotency-Key", value: idempotencyKey)
        request.headers.add(name: "Stripe-Version", value: "2025-03-31.basil")
        request.body = .bytes(ByteBuffer(string: Self.formEncode(form)))
        let response = try await http.execute(request, timeout: .seconds(timeout.components.seconds))
        let body = try await response.body.collect(upTo: 1024 * 1024)
        let json = JSONValue(parsing: body.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            let message = json?["error"]?["message"]?.string ?? "no error message"
            throw Failure(status: Int(response.status.code), message: message,
                          retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) })
        }
        guard let json, json.object != nil else { throw Failure(status: Int(response.status.code), message: "the answer is not a JSON object") }
        return json
    }
}

/// The HTTP client of the Stripe calls, shut down when the gateway stops.
final class StripeHTTPClient: Service, CustomStringConvertible {
    let client = StripeClient.makeHTTPClient()
    var description: String { "StripeHTTPClient" }

    func run() async throws {
        // Cancelled or shut down: either way the client closes its connections.
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
