import Basics
import Domain
import Foundation
import Wire

/// What a knowledge write becomes before rules-service stores it: a `url` is fetched through
/// sequence-service's egress gate into `content`, and a PDF (uploaded or fetched) is read into text.
///
/// Why the fetch is an RPC to sequence-service rather than a gate of the gateway's own: the egress gate
/// and the operator's policy for it (`EGRESS_ALLOW_PRIVATE`, `EGRESS_ALLOWED_HOSTS`) belong to
/// sequence-service, the one process that calls out (Kommo, webhooks, AI providers). Asking it keeps
/// one policy, configured once, for every request that leaves the system; a second gate in the gateway
/// would be a second policy to keep in step, in the process that faces the internet.
struct KnowledgeIntake: Sendable {
    let sequences: SequencesClient
    let pdf: PDFText

    /// The largest page fetched.
    static let maximumPageBytes: Int64 = 4 << 20

    func prepared(_ write: PB.DocumentWrite, options: CallOptions) async throws -> PB.DocumentWrite {
        try await pdf.extracting(try await fetched(write, options: options))
    }

    /// `write` with the page its `url` names as `content` (and its format and, when absent, its title);
    /// unchanged without a `url`.
    func fetched(_ write: PB.DocumentWrite, options: CallOptions) async throws -> PB.DocumentWrite {
        guard case .object(var members)? = JSONValue(parsing: write.json), let member = members["url"], member != .null else { return write }
        guard let url = member.string, let scheme = URL(string: url)?.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw Problem.field("url", "must be an http(s) URL")
        }
        if members["content"] != nil || members["content_base64"] != nil {
            throw Problem.field("content", "must be absent with url: the page is the content")
        }
        var request = PB.PageFetch()
        request.url = url
        request.maxBytes = Self.maximumPageBytes
        let page = try await sequences.fetchPage(request, options: options)
        let type = page.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let format: String
        switch type {
        case "application/pdf": format = "pdf"
        case "text/html", "application/xhtml+xml": format = "html"
        case "text/markdown", "text/x-markdown": format = "markdown"
        case "text/csv": format = "csv"
        case "text/plain", "": format = members["format"]?.string ?? "text"
        default: throw Problem.field("url", "serves \(type), which is not HTML, Markdown, text, CSV or PDF")
        }
        if format == "pdf" {
            members["content"] = .string(try await pdf.text(of: Data(page.body)))
        } else {
            // Pages are read as UTF-8 (what nearly all are); bytes that are not become U+FFFD.
            members["content"] = .string(String(decoding: page.body, as: UTF8.self))
        }
        members["format"] = .string(format)
        if members["title"]?.string.map({ TextFold.isBlank($0) }) ?? true {
            members["title"] = .string(Self.title(html: format == "html" ? members["content"]?.string ?? "" : "", url: page.url))
        }
        var next = write
        next.json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
        return next
    }

    /// A fetched page's `<title>`, or its URL's host and path.
    static func title(html: String, url: String) -> String {
        if let open = html.range(of: "<title", options: .caseInsensitive),
           let start = html.range(of: ">", range: open.upperBound..<html.endIndex),
           let close = html.range(of: "</title>", options: .caseInsensitive, range: start.upperBound..<html.endIndex) {
            let text = TextFold.trim(html[start.upperBound..<close.lowerBound])
            if !text.isEmpty { return String(text.prefix(Limits.nameLength)) }
        }
        let parsed = URL(string: url)
        return String(((parsed?.host ?? "") + (parsed?.path ?? "")).prefix(Limits.nameLength))
    }
}

// MARK: - Vectors

extension KnowledgeIntake {
    /// Chunks embedded by one `Embed` call.
    static let embeddingBatch = 256

    /// `document` after its chunks got vectors from the tenant's embeddings endpoint (sequence-service's
    /// `Embed`, through the egress gate), with `vector_count` saying how many hold one. Without an
    /// endpoint it is unchanged. An endpoint that fails leaves the document stored and found by bm25 alone:
    /// the answer carries a `warnings` entry saying so, and a re-index tries again.
    func embedded(_ document: PB.Document, agentID: String, options: CallOptions, rules: RulesClient) async throws -> PB.Document {
        var ref = PB.DocumentRef()
        ref.id = document.id
        ref.parentId = agentID
        let chunks = try await rules.listKnowledgeChunks(ref, options: options)
        guard !chunks.items.isEmpty else { return document }
        var progress = VectorProgress()
        do {
            try await storeVectors(of: chunks.items, documentID: document.id, agentID: agentID, options: options, rules: rules, progress: &progress)
        } catch {
            guard let failure = error as? RPCError, [.failedPrecondition, .unavailable].contains(failure.code) else { throw error }
            return Self.annotated(document, vectors: progress.stored,
                                  warning: "embeddings: \(failure.message); the document is searched by bm25 alone until it is re-indexed")
        }
        return progress.configured ? Self.annotated(document, vectors: progress.stored, warning: nil) : document
    }

    struct VectorProgress {
        var configured = false
        var stored = 0
    }

    private func storeVectors(of chunks: [PB.KnowledgeChunkText], documentID: String, agentID: String, options: CallOptions,
                              rules: RulesClient, progress: inout VectorProgress) async throws {
        var start = 0
        while start < chunks.count {
            let batch = Array(chunks[start..<min(start + Self.embeddingBatch, chunks.count)])
            var request = PB.EmbedRequest()
            request.texts = batch.map { String($0.text.prefix(Self.maximumEmbeddedCharacters)) }
            let answer = try await sequences.embed(request, options: options)
            guard answer.configured else { return }
            progress.configured = true
            var vectors = PB.KnowledgeVectors()
            vectors.agentId = agentID
            vectors.documentId = documentID
            vectors.model = answer.model
            vectors.chunkIds = batch.map(\.id)
            vectors.vectors = answer.vectors
            progress.stored += Int(try await rules.storeKnowledgeVectors(vectors, options: options).stored)
            start += batch.count
        }
    }

    /// Characters of a chunk sent to the endpoint (sequence-service takes at most 8,000).
    static let maximumEmbeddedCharacters = 8_000

    static func annotated(_ document: PB.Document, vectors: Int, warning: String?) -> PB.Document {
        guard case .object(var members)? = JSONValue(parsing: document.json) else { return document }
        members["vector_count"] = .int(Int64(vectors))
        if let warning {
            // Beside the document's own remarks, in their shape: a field and a message.
            members["warnings"] = .array((members["warnings"]?.array ?? []) + [.object(["field": "embeddings", "message": .string(warning)])])
        }
        var next = document
        next.json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
        return next
    }

    /// The question's vector for a search, when the tenant has an embeddings endpoint; a warning instead
    /// when the endpoint fails (the search is then bm25 alone).
    func questionVector(_ text: String, options: CallOptions) async throws -> (query: (vector: [UInt8], model: String)?, warning: String?) {
        guard !TextFold.isBlank(text), text.count <= Limits.knowledgeQueryLength else { return (nil, nil) }
        var request = PB.EmbedRequest()
        request.texts = [text]
        let answer: PB.Embeddings
        do {
            answer = try await sequences.embed(request, options: options)
        } catch {
            guard [.failedPrecondition, .unavailable].contains(error.code) else { throw error }
            return (nil, "embeddings: \(error.message); ranked by bm25 alone")
        }
        guard answer.configured, let vector = answer.vectors.first else { return (nil, nil) }
        return ((vector, answer.model), nil)
    }
}
