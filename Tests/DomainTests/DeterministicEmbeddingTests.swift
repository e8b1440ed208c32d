import Domain
import Testing

@Suite("DeterministicEmbedding")
struct DeterministicEmbeddingTests {
    @Test("the same text gives the same unit vector; case and accents do not matter")
    func stableAndFolded() {
        let vector = DeterministicEmbedding.vector("Entrega em São Paulo")
        #expect(vector.count == 256)
        #expect(vector == DeterministicEmbedding.vector("Entrega em São Paulo"))
        #expect(vector == DeterministicEmbedding.vector("ENTREGA em sao paulo"))
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norm - 1) < 1e-9)
    }

    @Test("texts sharing words are closer than texts that share none")
    func similarity() {
        let question = DeterministicEmbedding.vector("Do you deliver to Valencia?")
        let answer = DeterministicEmbedding.vector("We offer delivery to Valencia and Madrid within 48 hours.")
        let other = DeterministicEmbedding.vector("Our support team answers emails on weekdays.")
        #expect(DeterministicEmbedding.cosine(question, answer) > 0.4)
        #expect(DeterministicEmbedding.cosine(question, answer) > DeterministicEmbedding.cosine(question, other) + 0.3)
    }

    @Test("a text of stop words only is the zero vector, similar to nothing")
    func empty() {
        let vector = DeterministicEmbedding.vector("do you", dimensions: 16)
        #expect(vector == [Double](repeating: 0, count: 16))
        #expect(DeterministicEmbedding.cosine(vector, DeterministicEmbedding.vector("delivery", dimensions: 16)) == 0)
    }
}
