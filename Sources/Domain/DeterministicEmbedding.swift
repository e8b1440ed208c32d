import Basics
import Foundation

/// An embedding any process can compute the same way, with no model: the text's significant words
/// (folded, with ``KnowledgeQuery``'s stop words dropped) cut to their first ``prefixLength`` letters,
/// hashed into a fixed number of dimensions with a hashed sign, then scaled to unit length.
///
/// Two texts sharing words point the same way, so cosine similarity behaves like a soft word overlap.
/// The test support's OpenAI-compatible emulator answers `/v1/embeddings` with it, and the knowledge
/// benchmark ranks with it, so hybrid ranking is measured without a provider account.
package enum DeterministicEmbedding {
    /// The dimensions the emulator answers with unless asked for others.
    package static let defaultDimensions = 256
    /// Letters of a word that count: "delivery" and "deliver", "entregas" and "entrega" are one feature.
    package static let prefixLength = 6

    /// The unit vector of `text` in `dimensions` dimensions; all zeros when the text has no significant word.
    package static func vector(_ text: String, dimensions: Int = defaultDimensions) -> [Double] {
        precondition(dimensions > 0, "an embedding has at least one dimension")
        var vector = [Double](repeating: 0, count: dimensions)
        for word in KnowledgeQuery.words(text) where !KnowledgeQuery.stopWords.contains(word) {
            guard word.count >= 3 || word.allSatisfy(\.isNumber) else { continue }
            let hash = StableHash64.value(of: Array(word.prefix(prefixLength).utf8))
            let index = Int(hash % UInt64(dimensions))
            // One bit of the hash picks the sign, so unrelated words that share a dimension tend to cancel
            // rather than add up.
            vector[index] += (hash >> 63) == 0 ? 1 : -1
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return vector }
        return vector.map { $0 / norm }
    }

    /// The cosine similarity of two vectors of the same length (0 when either is all zeros).
    package static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "vectors of different lengths")
        var dot = 0.0, normA = 0.0, normB = 0.0
        for index in a.indices {
            dot += a[index] * b[index]
            normA += a[index] * a[index]
            normB += b[index] * b[index]
        }
        guard normA > 0, normB > 0 else { return 0 }
        return dot / (normA.squareRoot() * normB.squareRoot())
    }
}
