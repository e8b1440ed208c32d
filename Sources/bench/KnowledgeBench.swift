import ArgumentParser
import Domain
import Foundation
import Rules
import ServiceKit

// MARK: - Knowledge base

/// `make bench-kb`: retrieval quality and speed of the knowledge base, on rules-service's own store.
///
/// Quality: the demo knowledge base shipped in `demo/knowledge/` (a fictional oven maker's delivery,
/// returns, warranty, product and FAQ documents, a few in Spanish) and its evaluation set
/// (`questions.json`, each question naming the document that answers it): recall@3 (the answering
/// document among the first three chunks) and MRR (the mean of 1/rank of its first chunk, 0 beyond 10).
///
/// Speed: filler documents of other tenants (and one large agent of its own) bring the store to
/// `--chunks` chunks; then the p50/p99 of a search, from the client's words to the ranked chunks, for the
/// demo agent and for the large agent. The figures are the store's: the RPC in front of it is measured by
/// `bench rpc`.
struct KnowledgeBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "kb", abstract: "Knowledge base: recall@3, MRR and search latency at 100,000 chunks.")

    @Option(help: "Folder of the demo knowledge base and its questions.json.") var corpus = "demo/knowledge"
    @Option(help: "Chunks in the store for the latency measure.") var chunks = 100_000
    @Option(help: "Searches timed per agent.") var searches = 2_000
    @Flag(help: "20,000 chunks and 500 searches.") var quick = false

    /// Chunks of one filler document, one per section.
    static let fillerSections = 100
    /// Chunks of the large agent (200 documents, the most an agent may hold, of 100 chunks).
    static let largeAgentChunks = 20_000

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let targetChunks = quick ? min(chunks, 20_000) : chunks
        let searches = quick ? min(self.searches, 500) : self.searches
        let folder = NSTemporaryDirectory() + "bench-kb-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let db = try StoreFactory.open(folder: folder, migrator: RulesStore.migrator, durability: .normal)
        let store = RulesStore(db: db)

        // The demo knowledge base, as the demo tenant's agent holds it.
        let demo = try DemoKnowledge.load(folder: corpus)
        let questions = try DemoKnowledge.questions(folder: corpus)
        try await Self.addAgent(store, tenantID: "ten_demo", agentID: "agt_demo")
        var fileOfDocument: [String: String] = [:]
        for (index, document) in demo.enumerated() {
            let id = "kno_demo\(index)"
            fileOfDocument[id] = document.file
            try await store.insert(Self.record(id: id, tenantID: "ten_demo", agentID: "agt_demo", document.resource))
        }
        let demoChunks = try await store.knowledgeChunkCounts(ids: Array(fileOfDocument.keys)).values.reduce(0, +)

        let quality = try await Self.quality(store, questions: questions, fileOfDocument: fileOfDocument)
        report.add("bm25 recall@3", "ratio", quality.recall3)
        report.add("bm25 MRR", "ratio", quality.mrr)

        // Hybrid: every demo chunk embedded in process with the deterministic embedding the tests' emulator
        // answers with (what the tenant's endpoint does over HTTP), then the same questions ranked by
        // KnowledgeRanking's hybrid score.
        for id in fileOfDocument.keys.sorted() {
            let (_, chunks) = try await store.knowledgeChunkTexts(tenantID: "ten_demo", id: id, agentID: "agt_demo")
            _ = try await store.storeKnowledgeVectors(tenantID: "ten_demo", id: id, agentID: "agt_demo", model: Self.embeddingModel,
                                                      vectors: chunks.map { ($0.id, KnowledgeVector.bytes(DeterministicEmbedding.vector($0.text))) })
        }
        let hybrid = try await Self.quality(store, questions: questions, fileOfDocument: fileOfDocument, hybrid: true)
        report.add("hybrid recall@3", "ratio", hybrid.recall3)
        report.add("hybrid MRR", "ratio", hybrid.mrr)

        // Filler: the large agent first, then other tenants of 1,000 chunks each until the store is full.
        let seedStart = ContinuousClock.now
        var filler = FillerText(vocabulary: DemoKnowledge.vocabulary(demo))
        let largeChunks = min(Self.largeAgentChunks, max(0, targetChunks - demoChunks))
        try await Self.addAgent(store, tenantID: "ten_large", agentID: "agt_large")
        try await Self.fill(store, tenantID: "ten_large", agentID: "agt_large", chunks: largeChunks, text: &filler)
        var stored = demoChunks + largeChunks
        var tenant = 0
        while stored < targetChunks {
            let tenantID = "ten_other\(tenant)", agentID = "agt_other\(tenant)"
            try await Self.addAgent(store, tenantID: tenantID, agentID: agentID)
            let count = min(1_000, targetChunks - stored)
            try await Self.fill(store, tenantID: tenantID, agentID: agentID, chunks: count, text: &filler)
            stored += count
            tenant += 1
        }
        let seeded = ContinuousClock.now - seedStart

        // Quality again: other tenants' chunks must neither appear in the demo agent's results nor move them.
        let crowded = try await Self.quality(store, questions: questions, fileOfDocument: fileOfDocument)
        report.add("bm25 recall@3 among other tenants' chunks", "ratio", crowded.recall3)
        let crowdedHybrid = try await Self.quality(store, questions: questions, fileOfDocument: fileOfDocument, hybrid: true)
        report.add("hybrid recall@3 among other tenants' chunks", "ratio", crowdedHybrid.recall3)

        var rows: [[String]] = []
        for (label, tenantID, agentID, held) in [("demo agent", "ten_demo", "agt_demo", demoChunks), ("large agent", "ten_large", "agt_large", largeChunks)] {
            var latencies = Latencies()
            var results = 0
            for index in 0..<searches {
                let question = questions[index % questions.count].question
                let started = ContinuousClock.now
                let hits = try await Self.search(store, tenantID: tenantID, agentID: agentID, question)
                latencies.add(ContinuousClock.now - started)
                results += hits.count
            }
            let p50 = latencies.percentile(0.5) / 1000, p99 = latencies.percentile(0.99) / 1000
            report.add("\(label) search p50", "ms", p50)
            report.add("\(label) search p99", "ms", p99)
            rows.append([label, "\(held)", String(format: "%.2f", p50), String(format: "%.2f", p99), String(format: "%.1f", Double(results) / Double(searches))])
        }

        report.table("Demo knowledge base: \(demo.count) documents, \(demoChunks) chunks, \(questions.count) questions", ["ranking", "recall@3", "MRR", "recall@3 among \(stored) chunks"], [
            ["bm25", String(format: "%.3f", quality.recall3), String(format: "%.3f", quality.mrr), String(format: "%.3f", crowded.recall3)],
            ["hybrid (deterministic embedding)", String(format: "%.3f", hybrid.recall3), String(format: "%.3f", hybrid.mrr), String(format: "%.3f", crowdedHybrid.recall3)],
        ])
        report.line("goal: recall@3 ≥ 0.9 with bm25 alone")
        if !quality.misses.isEmpty {
            report.line("not in the first three (\(quality.misses.count)):")
            for miss in quality.misses { report.line("  - \(miss)") }
        }
        let mended = Set(quality.misses).subtracting(hybrid.misses).count, lost = Set(hybrid.misses).subtracting(quality.misses).count
        report.line("hybrid: \(hybrid.misses.count) not in the first three; \(mended) of bm25's misses found, \(lost) found by bm25 lost")
        report.table("Search latency with \(stored) chunks in the store, \(tenant) other tenants (seeded in \(seeded); \(machine()))",
                     ["agent", "its chunks", "p50 ms", "p99 ms", "results per search"], rows)
        report.line("goal: p99 ≤ 20 ms")
        return report
    }

    // MARK: - Measures

    struct Quality {
        var recall3: Double
        var mrr: Double
        var misses: [String]
    }

    /// The model name the bench's vectors are stored under.
    static let embeddingModel = "deterministic"

    static func quality(_ store: RulesStore, questions: [DemoKnowledge.Question], fileOfDocument: [String: String],
                        hybrid: Bool = false) async throws -> Quality {
        var found3 = 0
        var reciprocal = 0.0
        var misses: [String] = []
        for question in questions {
            let hits = try await search(store, tenantID: "ten_demo", agentID: "agt_demo", question.question, limit: 10, hybrid: hybrid)
            let files = hits.map { fileOfDocument[$0.documentID] ?? "(another agent's \($0.documentID))" }
            if let rank = files.firstIndex(where: { question.documents.contains($0) }) {
                reciprocal += 1 / Double(rank + 1)
                if rank < 3 { found3 += 1 }
            }
            if !files.prefix(3).contains(where: { question.documents.contains($0) }) {
                misses.append("\(question.question) → wanted \(question.documents.joined(separator: " or ")), got \(files.prefix(3).joined(separator: ", "))")
            }
        }
        return Quality(recall3: Double(found3) / Double(questions.count), mrr: reciprocal / Double(questions.count), misses: misses)
    }

    /// What rules-service does for a search: the client's words to an FTS expression, then the store.
    /// With `hybrid`, the question is embedded as the chunks were.
    static func search(_ store: RulesStore, tenantID: String, agentID: String, _ text: String, limit: Int = 5,
                       hybrid: Bool = false) async throws -> [KnowledgeHit] {
        guard let match = KnowledgeQuery.matchExpression(KnowledgeQuery.terms(text)) else { return [] }
        let vector = hybrid ? KnowledgeQueryVector(model: embeddingModel, values: DeterministicEmbedding.vector(text).map(Float.init)) : nil
        return try await store.searchKnowledge(tenantID: tenantID, agentID: agentID, match: match, limit: limit, vector: vector)
    }

    // MARK: - Seeding

    static func addAgent(_ store: RulesStore, tenantID: String, agentID: String) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try await store.insert(DocumentRecord(kind: .agent, id: agentID, tenantID: tenantID, doc: #"{"name":"Bench"}"#, createdAt: now, updatedAt: now))
    }

    static func record(id: String, tenantID: String, agentID: String, _ resource: KnowledgeResource) throws -> DocumentRecord {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let doc = String(decoding: try JSONEncoder().encode(resource), as: UTF8.self)
        return DocumentRecord(kind: .knowledge, id: id, tenantID: tenantID, agentID: agentID, doc: doc, createdAt: now, updatedAt: now)
    }

    /// Markdown documents of ``fillerSections`` sections, one chunk each, until the agent holds `chunks`.
    static func fill(_ store: RulesStore, tenantID: String, agentID: String, chunks: Int, text: inout FillerText) async throws {
        var left = chunks
        var index = 0
        while left > 0 {
            let sections = min(fillerSections, left)
            let content = (0..<sections).map { _ in "## \(text.heading())\n\n\(text.paragraph())" }.joined(separator: "\n\n")
            let resource = KnowledgeResource(title: "Filler \(index)", format: "markdown", content: content)
            try await store.insert(record(id: "kno_\(agentID)_\(index)", tenantID: tenantID, agentID: agentID, resource))
            left -= sections
            index += 1
        }
    }
}

// MARK: - The demo knowledge base

/// The documents of `demo/knowledge/` and their evaluation questions.
enum DemoKnowledge {
    struct Document {
        var file: String
        var resource: KnowledgeResource
    }

    struct Question: Decodable {
        var question: String
        var document: String?
        /// For a question more than one document answers.
        var alternatives: [String]?

        var documents: [String] { (document.map { [$0] } ?? []) + (alternatives ?? []) }
    }

    /// Every document in `folder` by its extension (`.md`, `.html`, `.csv`, `.txt`); its title is its first
    /// heading, or the file's name.
    static func load(folder: String) throws -> [Document] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        return try files.compactMap { file in
            let format: String
            switch (file as NSString).pathExtension {
            case "md": format = "markdown"
            case "html": format = "html"
            case "csv": format = "csv"
            case "txt": format = "text"
            default: return nil
            }
            let content = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            return Document(file: file, resource: KnowledgeResource(title: title(of: content, format: format) ?? file, format: format, content: content,
                                                                    source: "demo/knowledge/" + file))
        }
    }

    static func title(of content: String, format: String) -> String? {
        switch format {
        case "markdown":
            return content.split(separator: "\n").first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) }
        case "html":
            guard let open = content.range(of: "<title>"), let close = content.range(of: "</title>", range: open.upperBound..<content.endIndex) else { return nil }
            return String(content[open.upperBound..<close.lowerBound])
        default:
            return nil
        }
    }

    static func questions(folder: String) throws -> [Question] {
        try JSONDecoder().decode([Question].self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/questions.json")))
    }

    /// The folded words of the documents: filler drawn from them makes the words questions ask for common
    /// across every tenant, as they are in real stores.
    static func vocabulary(_ documents: [Document]) -> [String] {
        var words: Set<String> = []
        for document in documents {
            for word in TextFold.fold(document.resource.content).split(whereSeparator: { !$0.isLetter }) where word.count >= 3 { words.insert(String(word)) }
        }
        return words.sorted()
    }
}

/// Deterministic pseudo-text: the same seed gives the same store on every run.
struct FillerText {
    var vocabulary: [String]
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15

    mutating func next() -> UInt64 {
        // SplitMix64.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A word of the vocabulary, three times in four; otherwise a made-up one, so the index also holds
    /// words no question asks for.
    mutating func word() -> String {
        if next() % 4 != 0 { return vocabulary[Int(next() % UInt64(vocabulary.count))] }
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return String((0..<(4 + Int(next() % 6))).map { _ in letters[Int(next() % 26)] })
    }

    mutating func heading() -> String {
        (0..<3).map { _ in word() }.joined(separator: " ").capitalized
    }

    /// About 90 words in sentences of 6 to 15.
    mutating func paragraph() -> String {
        var sentences: [String] = []
        var count = 0
        while count < 90 {
            let length = 6 + Int(next() % 10)
            sentences.append((0..<length).map { _ in word() }.joined(separator: " ").capitalizingFirst + ".")
            count += length
        }
        return sentences.joined(separator: " ")
    }
}

private extension String {
    var capitalizingFirst: String { prefix(1).uppercased() + dropFirst() }
}
