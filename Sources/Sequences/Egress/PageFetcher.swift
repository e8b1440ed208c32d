import Foundation
import Logging
import NIOHTTP1

/// Reads a web page for a tenant's knowledge base through the egress gate: the same address checks,
/// caps and policy as every other outbound request. The gate follows no redirects; a fetcher follows
/// up to ``maximumRedirects`` itself, so each new target is checked again before anything is sent to it.
package struct PageFetcher: Sendable {
    let gate: EgressGate
    package static let maximumRedirects = 5
    /// The most `FetchPage` reads of one page.
    package static let maximumBytes = 4 << 20
    package static let timeout: Duration = .seconds(15)

    package init(gate: EgressGate) { self.gate = gate }

    package struct Page: Sendable {
        package var url: String
        package var contentType: String
        package var body: [UInt8]
    }

    package enum Failure: Error, Sendable {
        /// The URL or a redirect's target may not be fetched, or redirects went on too long.
        case refused(String)
        /// The server answered, but not with a page we keep: not 2xx, or too long.
        case unusable(String)
        /// The server could not be reached in time.
        case unreachable(String)
    }

    package func fetch(_ url: String, maxBytes: Int, logger: Logger) async throws -> Page {
        let limit = min(max(1, maxBytes), Self.maximumBytes)
        let deadline = ContinuousClock.now + Self.timeout
        var current = url
        for _ in 0...Self.maximumRedirects {
            var headers = HTTPHeaders()
            headers.add(name: "Accept", value: "text/html, text/markdown, text/plain, text/csv, application/pdf;q=0.9, */*;q=0.1")
            headers.add(name: "User-Agent", value: "kommo-agents knowledge fetch")
            let response: OutboundResponse
            do {
                response = try await gate.send(OutboundRequest(method: .GET, url: current, headers: headers),
                                               timeout: max(.milliseconds(1), deadline - .now), maxResponseBytes: limit, logger: logger)
            } catch let error as EgressError {
                switch error {
                case .refused(let reason): throw Failure.refused(reason)
                default: throw Failure.unreachable(error.description)
                }
            }
            if [301, 302, 303, 307, 308].contains(response.status) {
                guard let location = response.headers.first(name: "Location"), let next = URL(string: location, relativeTo: URL(string: current))?.absoluteString
                else { throw Failure.unusable("answered \(response.status) without a usable Location") }
                current = next
                continue
            }
            guard (200..<300).contains(response.status) else { throw Failure.unusable("answered \(response.status)") }
            guard !response.truncated else { throw Failure.unusable("is larger than \(limit) bytes") }
            return Page(url: current, contentType: response.headers.first(name: "Content-Type") ?? "", body: response.body)
        }
        throw Failure.refused("redirected more than \(Self.maximumRedirects) times")
    }
}
