import Domain
import Foundation
import Wire

/// A document of an agent's knowledge base (the body of `/agents/{id}/knowledge`):
///
/// ```json
/// {"title": "Delivery and returns", "format": "markdown", "content": "# Delivery\nWe deliver to Valencia in 48 hours…",
///  "source": "https://example.com/delivery", "active": true}
/// ```
///
/// `format` is `text` (the default), `markdown`, `html` (tags dropped, headings kept) or `csv` (a product
/// list: one chunk per row, with the header's names). `source` says where the text came from, for the
/// operator; `active: false` keeps the document out of search and replies. Every change of the content
/// is a new version and is indexed again. Answers add `id`, `agent_id`, `version`, `chunk_count`,
/// `created_at` and `updated_at` (listings leave `content` out).
package struct KnowledgeResource: Codable, Sendable, Hashable {
    package static let formats = ["text", "markdown", "html", "csv", "pdf"]
    /// Members the server sets; accepted in a body and ignored.
    package static let readOnlyKeys: Set<String> = ["id", "agent_id", "version", "created_at", "updated_at", "chunk_count"]

    package var title: String
    package var format: String
    package var content: String
    package var source: String?
    /// The page `content` was fetched from (by the gateway, through the egress gate); re-indexing fetches it again.
    package var url: String?
    package var active: Bool

    private enum CodingKeys: String, CodingKey { case title, format, content, source, url, active }

    package init(title: String, format: String = "text", content: String, source: String? = nil, active: Bool = true) {
        self.title = title; self.format = format; self.content = content; self.source = source; self.active = active
    }

    /// Decodes the body with the documented defaults.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        title = try c.decodeIfPresent(String.self, forKey: .title) ?? ""
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? "text"
        content = try c.decodeIfPresent(String.self, forKey: .content) ?? ""
        source = try c.decodeIfPresent(String.self, forKey: .source)
        url = try c.decodeIfPresent(String.self, forKey: .url)
        active = try c.decodeIfPresent(Bool.self, forKey: .active) ?? true
    }

    /// Everything wrong with the document, each with its field path.
    package func problems() -> [FieldViolation] {
        var problems: [FieldViolation] = []
        func add(_ field: String, _ message: String) { problems.append(FieldViolation(field: field, message: message)) }
        if TextFold.isBlank(title) { add("title", "must not be empty") }
        else if title.count > Limits.nameLength { add("title", "must be at most \(Limits.nameLength) characters") }
        if !Self.formats.contains(format) { add("format", "must be one of: \(Self.formats.joined(separator: ", "))") }
        if TextFold.isBlank(content) {
            add("content", "must not be empty")
        } else if content.utf8.count > Limits.knowledgeDocumentLength, content.count > Limits.knowledgeDocumentLength {
            add("content", "must be at most \(Limits.knowledgeDocumentLength) characters")
        } else if chunks().isEmpty {
            add("content", format == "csv" ? "has no rows after the header" : "has no text")
        }
        if let source, source.count > Limits.urlLength { add("source", "must be at most \(Limits.urlLength) characters") }
        if let url {
            if url.count > Limits.urlLength { add("url", "must be at most \(Limits.urlLength) characters") }
            else if !(url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://")) { add("url", "must be an http(s) URL") }
        }
        return problems
    }

    /// The document's chunks, as indexed.
    package func chunks() -> [KnowledgeChunk] {
        KnowledgeChunker.chunks(of: content, format: format, title: TextFold.trim(title).isEmpty ? "" : String(TextFold.trim(title)))
    }
}
