import Foundation

/// How a knowledge search ranks chunks when the agent's tenant has an embeddings endpoint: bm25's best
/// candidates and the chunks whose vectors are closest to the question's, each scored
///
///     hybrid = 0.5 × bm25 / (best bm25 among the candidates) + 0.5 × max(0, cosine)
///
/// so a chunk that holds the question's words and means the same thing leads, and one that shares no
/// word with the question ("shipping" asked, "delivery" written) can still be found by its meaning.
/// Without an endpoint (or without a vector for the question) the search is bm25 alone.
package enum KnowledgeRanking {
    /// bm25's best chunks that are candidates.
    package static let lexicalCandidates = 50
    /// The closest vectors of the agent's partition that are candidates.
    package static let vectorCandidates = 50
    package static let lexicalWeight = 0.5
    package static let vectorWeight = 0.5

    /// A candidate's hybrid score from its bm25 score (0 when bm25 did not find it), the best bm25 score
    /// among the candidates, and its cosine similarity (0 without a vector).
    package static func hybrid(bm25: Double, bestBM25: Double, cosine: Double) -> Double {
        let lexical = bestBM25 > 0 ? max(0, bm25) / bestBM25 : 0
        return lexicalWeight * lexical + vectorWeight * max(0, cosine)
    }
}

/// Embeddings as they are stored and sent between processes: little-endian Float32s.
package enum KnowledgeVector {
    /// The bytes of `values`.
    package static func bytes<S: Sequence>(_ values: S) -> [UInt8] where S.Element: BinaryFloatingPoint {
        var out: [UInt8] = []
        out.reserveCapacity(values.underestimatedCount * 4)
        for value in values {
            let bits = Float(value).bitPattern.littleEndian
            withUnsafeBytes(of: bits) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// The values of `bytes`; `nil` when they are not whole Float32s or hold none.
    package static func values<C: Collection>(_ bytes: C) -> [Float]? where C.Element == UInt8 {
        guard !bytes.isEmpty, bytes.count % 4 == 0 else { return nil }
        var values: [Float] = []
        values.reserveCapacity(bytes.count / 4)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next(), let b1 = iterator.next(), let b2 = iterator.next(), let b3 = iterator.next() {
            let bits = UInt32(b0) | UInt32(b1) << 8 | UInt32(b2) << 16 | UInt32(b3) << 24
            values.append(Float(bitPattern: bits))
        }
        return values
    }

    /// The cosine similarity of two vectors; 0 when their lengths differ or either is all zeros.
    package static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var dot: Float = 0, normA: Float = 0, normB: Float = 0
        for index in a.indices {
            dot += a[index] * b[index]
            normA += a[index] * a[index]
            normB += b[index] * b[index]
        }
        guard normA > 0, normB > 0 else { return 0 }
        return Double(dot / (normA.squareRoot() * normB.squareRoot()))
    }
}
