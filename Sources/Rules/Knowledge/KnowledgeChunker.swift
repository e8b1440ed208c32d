import Domain
import Foundation

/// One piece of a knowledge document as it is indexed and quoted: its text and the nearest heading above it.
package struct KnowledgeChunk: Sendable, Hashable {
    /// The heading the chunk sits under (the document's title when it has none).
    package var heading: String
    package var text: String

    package init(heading: String, text: String) { self.heading = heading; self.text = text }
}

/// Splits a knowledge document into chunks small enough to quote in a prompt and specific enough to rank.
///
/// Sections (a Markdown or HTML heading and what follows it) never share a chunk, so every chunk names the
/// heading it answers under. Inside a section, paragraphs are packed up to ``target`` characters; a
/// paragraph longer than ``maximum`` is cut at sentence ends, then at spaces. A chunk after the first of a
/// section starts with the previous chunk's last sentence (when it is short), so an answer that straddles
/// the cut is still whole in one of them. A CSV product list is one chunk per row, each with the header's
/// names beside its values.
package enum KnowledgeChunker {
    /// The size chunks are packed to.
    package static let target = 700
    /// No chunk is longer than this.
    package static let maximum = 1_000
    /// The longest sentence carried over into the next chunk.
    static let overlap = 160

    /// The chunks of `content` in `format` (`text`, `markdown`, `html`, `csv`); `title` stands in for a heading.
    package static func chunks(of content: String, format: String, title: String) -> [KnowledgeChunk] {
        switch format {
        case "csv": return csvChunks(content, title: title)
        case "html": return sectionChunks(markdownSections(htmlText(content)), title: title)
        case "markdown": return sectionChunks(markdownSections(content), title: title)
        case "pdf": return sectionChunks(pageSections(content), title: title)
        default: return sectionChunks([(heading: "", body: content)], title: title)
        }
    }

    // MARK: - Sections

    /// A PDF's text as `pdftotext` writes it, pages ended by form feeds, as one section per page headed
    /// "Page N" (blank pages skipped, their numbers kept), so a quoted chunk says where to look.
    static func pageSections(_ text: String) -> [(heading: String, body: String)] {
        text.split(separator: "\u{0C}", omittingEmptySubsequences: false).enumerated().compactMap { index, page in
            TextFold.isBlank(page) ? nil : (heading: "Page \(index + 1)", body: String(page))
        }
    }

    /// A Markdown text as (heading, body) sections: ATX headings (`#` to `######`) and setext headings
    /// (a line underlined with `===` or `---`).
    static func markdownSections(_ text: String) -> [(heading: String, body: String)] {
        var sections: [(heading: String, body: String)] = []
        var heading = ""
        var lines: [Substring] = []
        let all = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        func close() {
            let body = lines.joined(separator: "\n")
            if !TextFold.isBlank(body) { sections.append((heading, body)) }
            lines = []
        }
        var index = 0
        while index < all.count {
            let line = all[index]
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("#"), let title = atxHeading(trimmed) {
                close()
                heading = title
            } else if index + 1 < all.count, !TextFold.isBlank(line), isUnderline(all[index + 1]) {
                close()
                heading = String(TextFold.trim(line))
                index += 1
            } else {
                lines.append(line)
            }
            index += 1
        }
        close()
        return sections
    }

    static func atxHeading(_ line: Substring) -> String? {
        let hashes = line.prefix { $0 == "#" }.count
        guard (1...6).contains(hashes) else { return nil }
        let rest = line.dropFirst(hashes)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        let title = TextFold.trim(rest.reversed().drop { $0 == "#" || $0 == " " }.reversed().map(String.init).joined())
        return title.isEmpty ? nil : String(title)
    }

    static func isUnderline(_ line: Substring) -> Bool {
        let trimmed = TextFold.trim(line)
        guard trimmed.count >= 3, let first = trimmed.first, first == "=" || first == "-" else { return false }
        return trimmed.allSatisfy { $0 == first }
    }

    /// Packs each section's paragraphs into chunks.
    static func sectionChunks(_ sections: [(heading: String, body: String)], title: String) -> [KnowledgeChunk] {
        var chunks: [KnowledgeChunk] = []
        for section in sections {
            let heading = section.heading.isEmpty ? title : section.heading
            var pieces: [String] = []
            for paragraph in paragraphs(section.body) {
                if paragraph.count <= maximum { pieces.append(paragraph) } else { pieces += split(paragraph) }
            }
            var current = ""
            var carried = ""
            func emit() {
                guard !current.isEmpty else { return }
                chunks.append(KnowledgeChunk(heading: heading, text: current))
                carried = lastSentence(of: current)
                current = ""
            }
            for piece in pieces {
                if current.isEmpty {
                    let lead = carried.isEmpty || carried == piece || carried.count + 1 + piece.count > maximum ? "" : carried + " "
                    current = lead + piece
                } else if current.count + 2 + piece.count <= target {
                    current += "\n\n" + piece
                } else {
                    emit()
                    let lead = carried.isEmpty || carried.count + 1 + piece.count > maximum ? "" : carried + " "
                    current = lead + piece
                }
                if current.count >= target { emit() }
            }
            emit()
        }
        return chunks
    }

    /// Paragraphs: runs of non-blank lines, whitespace collapsed; list items and table rows stay lines.
    static func paragraphs(_ text: String) -> [String] {
        var result: [String] = []
        var lines: [String] = []
        func close() {
            if !lines.isEmpty { result.append(lines.joined(separator: "\n")) }
            lines = []
        }
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let collapsed = line.split { $0 == " " || $0 == "\t" }.joined(separator: " ")
            if collapsed.isEmpty { close() } else { lines.append(collapsed) }
        }
        close()
        return result
    }

    /// A long paragraph cut at sentence ends into pieces of at most ``target`` characters (a sentence
    /// longer than ``maximum`` is cut at spaces).
    static func split(_ paragraph: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for sentence in sentences(paragraph) {
            for part in sentence.count <= maximum ? [sentence] : hardSplit(sentence) {
                if current.isEmpty { current = part }
                else if current.count + 1 + part.count <= target { current += " " + part }
                else { pieces.append(current); current = part }
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// Sentences: text up to `.`, `!`, `?` (or `。`) followed by a space or the end.
    static func sentences(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        var previous: Character?
        for character in text {
            if let previous, ".!?。".contains(previous), character == " " || character == "\n" {
                result.append(current)
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        if !TextFold.isBlank(current) { result.append(current) }
        return result.map { String(TextFold.trim($0)) }.filter { !$0.isEmpty }
    }

    /// Cuts at the last space before ``target`` characters (or at ``target`` when there is none).
    static func hardSplit(_ text: String) -> [String] {
        var result: [String] = []
        var rest = Substring(text)
        while rest.count > target {
            let window = rest.prefix(target)
            let cut = window.lastIndex(of: " ") ?? window.endIndex
            result.append(String(rest[..<cut]))
            rest = rest[cut...].drop { $0 == " " }
        }
        if !rest.isEmpty { result.append(String(rest)) }
        return result
    }

    static func lastSentence(of text: String) -> String {
        guard let last = sentences(text.replacingOccurrences(of: "\n", with: " ")).last, last.count <= overlap else { return "" }
        return last
    }

    // MARK: - CSV

    /// One chunk per row: `name: value` for each column with a value, separated by `; `, cut at
    /// ``maximum`` characters; the heading is the title. A file without a header row of names is read
    /// with column numbers.
    static func csvChunks(_ content: String, title: String) -> [KnowledgeChunk] {
        let rows = csvRows(content)
        guard let header = rows.first else { return [] }
        let names = header.map { String(TextFold.trim($0)) }
        var chunks: [KnowledgeChunk] = []
        for row in rows.dropFirst() {
            var parts: [String] = []
            for (index, value) in row.enumerated() {
                let trimmed = TextFold.trim(value)
                guard !trimmed.isEmpty else { continue }
                let name = index < names.count && !names[index].isEmpty ? names[index] : "column \(index + 1)"
                parts.append("\(name): \(trimmed)")
            }
            guard !parts.isEmpty else { continue }
            var text = parts.joined(separator: "; ")
            if text.count > maximum { text = String(text.prefix(maximum)) }
            chunks.append(KnowledgeChunk(heading: title, text: text))
        }
        return chunks
    }

    /// RFC 4180 rows: commas (or semicolons, when the header has more of them), quoted fields with `""`.
    static func csvRows(_ content: String) -> [[String]] {
        let firstLine = content.prefix { !$0.isNewline }
        let separator: Character = firstLine.filter { $0 == ";" }.count > firstLine.filter { $0 == "," }.count ? ";" : ","
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = Array(content).makeIterator()
        var pending: Character? = iterator.next()
        while let character = pending {
            pending = iterator.next()
            if quoted {
                if character == "\"" {
                    if pending == "\"" { field.append("\""); pending = iterator.next() } else { quoted = false }
                } else {
                    field.append(character)
                }
            } else if character == "\"" && field.isEmpty {
                quoted = true
            } else if character == separator {
                row.append(field); field = ""
            } else if character.isNewline {
                row.append(field); field = ""
                if !row.allSatisfy({ TextFold.isBlank($0) }) { rows.append(row) }
                row = []
            } else {
                field.append(character)
            }
        }
        row.append(field)
        if !row.allSatisfy({ TextFold.isBlank($0) }) { rows.append(row) }
        return rows
    }

    // MARK: - HTML

    /// The text of an HTML page as Markdown-like text: headings become `#` lines, blocks and line breaks
    /// become line ends, scripts, styles and comments go, other tags are dropped and entities decoded.
    static func htmlText(_ html: String) -> String {
        var text = html
        for pattern in ["<!--[\\s\\S]*?-->", "<(script|style|noscript|template)\\b[\\s\\S]*?</\\1\\s*>", "<head\\b[\\s\\S]*?</head\\s*>"] {
            text = text.replacingOccurrences(of: pattern, with: " ", options: [.regularExpression, .caseInsensitive])
        }
        // A heading's own text, on a line of its own with its marker.
        text = text.replacingOccurrences(of: "<h([1-6])\\b[^>]*>", with: "\n\n# ", options: [.regularExpression, .caseInsensitive])
        text = text.replacingOccurrences(of: "</h[1-6]\\s*>", with: "\n\n", options: [.regularExpression, .caseInsensitive])
        text = text.replacingOccurrences(of: "<li\\b[^>]*>", with: "\n- ", options: [.regularExpression, .caseInsensitive])
        text = text.replacingOccurrences(of: "</?(p|div|section|article|ul|ol|table|blockquote|pre|header|footer|main|nav|dl)\\b[^>]*>",
                                         with: "\n\n", options: [.regularExpression, .caseInsensitive])
        text = text.replacingOccurrences(of: "<(br|tr|dt|dd)\\b[^>]*>", with: "\n", options: [.regularExpression, .caseInsensitive])
        text = text.replacingOccurrences(of: "</t[dh]\\s*>", with: " ", options: [.regularExpression, .caseInsensitive])
        text = text.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression)
        // Heading lines keep their words together even when the source broke them.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { line in
            decodeEntities(String(line)).split { $0 == " " || $0 == "\t" }.joined(separator: " ")
        }
        return lines.joined(separator: "\n")
    }

    static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "ndash": "–", "mdash": "—",
        "hellip": "…", "laquo": "«", "raquo": "»", "euro": "€", "copy": "©", "reg": "®", "deg": "°",
    ]

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var result = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            result += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semicolon = after.prefix(12).firstIndex(of: ";") {
                let name = String(after[..<semicolon])
                var decoded: String?
                if name.hasPrefix("#x") || name.hasPrefix("#X") {
                    decoded = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else if name.hasPrefix("#") {
                    decoded = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else {
                    decoded = namedEntities[name.lowercased()]
                }
                if let decoded {
                    result += decoded
                    rest = after[after.index(after: semicolon)...]
                    continue
                }
            }
            result += "&"
            rest = after
        }
        return result + rest
    }
}
