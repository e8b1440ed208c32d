import Basics
import Domain
import Foundation
import Logging
import NIOHTTP1

/// A tenant's OpenAI-compatible embeddings endpoint (integrations `embeddings`).
package struct EmbeddingsEndpoint: Sendable, Hashable {
    package var baseURL: String
    /// Sent as `Authorization: Bearer`; sealed at rest like every integration secret.
    package var apiKey: String
    package var model: String

    package init(baseURL: String, apiKey: String, model: String) {
        self.baseURL = baseURL; self.apiKey = apiKey; self.model = model
    }
}

/// Embeds knowledge chunks and questions through the egress gate: `POST {base_url}/v1/embeddings` with
/// the texts in batches of ``batchSize``, every request under the gate's policy and caps, the whole call
/// within ``timeout``. Like ``PageFetcher``, it lives in sequence-service, the one process that calls out.
package struct KnowledgeEmbedder: Sendable {
    let gate: EgressGate
    /// Texts of one request to the endpoint.
    package static let batchSize = 32
    /// Texts of one `Embed` call.
    package static let maximumTexts = 256
    /// Characters of one text (a chunk is at most some 1,500; a question 500).
    package static let maximumTextLength = 8_000
    package static let timeout: Duration = .seconds(60)
    /// The largest answer read from the endpoint for one batch.
    static let maximumResponseBytes = 16 << 20

    package init(gate: EgressGate) { self.gate = gate }

    package enum Failure: Error, Sendable, CustomStringConvertible {
        /// The endpoint could not be used: refused by the gate, unreachable, an error status, an answer that does not fit.
        case unavailable(String)

        package var description: String {
            switch self { case .unavailable(let reason): reason }
        }
    }

    /// One unit vector per text, in order.
    package func embed(_ texts: [String], with endpoint: EmbeddingsEndpoint, logger: Logger) async throws(Failure) -> [[Float]] {
        let deadline = ContinuousClock.now + Self.timeout
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = texts.startIndex
        while start < texts.endIndex {
            let end = min(start + Self.batchSize, texts.endIndex)
            vectors += try await batch(Array(texts[start..<end]), endpoint: endpoint, deadline: deadline, logger: logger)
            start = end
        }
        return vectors
    }

    private func batch(_ texts: [String], endpoint: EmbeddingsEndpoint, deadline: ContinuousClock.Instant,
                       logger: Logger) async throws(Failure) -> [[Float]] {
        let url = endpoint.baseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/embeddings"
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(endpoint.apiKey)")
        headers.add(name: "Content-Type", value: "application/json")
        let body = JSONValue.object(["model": .string(endpoint.model), "input": .array(texts.map(JSONValue.string))]).data()
        let response: OutboundResponse
        do {
            response = try await gate.send(OutboundRequest(method: .POST, url: url, headers: headers, body: Array(body)),
                                           timeout: max(.milliseconds(1), deadline - .now), maxResponseBytes: Self.maximumResponseBytes,
                                           logger: logger)
        } catch let error as EgressError {
            throw .unavailable("the embeddings endpoint could not be reached: \(error.description)")
        } catch {
            throw .unavailable("the embeddings endpoint could not be reached")
        }
        guard (200..<300).contains(response.status) else {
            let message = JSONValue(parsing: String(decoding: response.body.prefix(4096), as: UTF8.self))?["error"]?["message"]?.string
            throw .unavailable("the embeddings endpoint answered \(response.status)" + (message.map { ": \(String($0.prefix(200)))" } ?? ""))
        }
        guard !response.truncated, let json = JSONValue(parsing: String(decoding: response.body, as: UTF8.self)),
              let data = json["data"]?.array, data.count == texts.count else {
            throw .unavailable("the embeddings endpoint answered without one vector per text")
        }
        var vectors = [[Float]](repeating: [], count: texts.count)
        for (position, item) in data.enumerated() {
            let index = item["index"]?.int64.map(Int.init) ?? position
            guard vectors.indices.contains(index), vectors[index].isEmpty, let numbers = item["embedding"]?.array, !numbers.isEmpty,
                  numbers.count <= 4096 else {
                throw .unavailable("the embeddings endpoint answered a vector out of place or of no length")
            }
            let values = numbers.compactMap { $0.double.map(Float.init) }
            guard values.count == numbers.count else { throw .unavailable("the embeddings endpoint answered a vector that is not numbers") }
            vectors[index] = values
        }
        guard let length = vectors.first?.count, vectors.allSatisfy({ $0.count == length }) else {
            throw .unavailable("the embeddings endpoint answered vectors of different lengths")
        }
        return vectors
    }
}
