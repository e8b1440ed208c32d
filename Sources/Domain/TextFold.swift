import Foundation

/// Text normalisation shared by conditions and field keys: leads write "Preço", "preco" and "PREÇO " and
/// mean the same word.
package enum TextFold {
    /// Trimmed, lowercased, accents removed.
    ///
    /// Most values (ids, enum values, English and many Portuguese words) are ASCII, which has no accents to
    /// remove; those take a plain-Swift path, because Foundation's folding and trimming go through NSString
    /// on Linux and dominated evaluation time in profiles.
    @inlinable package static func fold(_ text: String) -> String {
        let trimmed = trim(text)
        if trimmed.utf8.allSatisfy({ $0 < 0x80 }) { return trimmed.lowercased() }
        return String(trimmed).folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }

    /// Accents removed, case kept: what a case-insensitive regular expression runs on.
    @inlinable package static func stripAccents(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        return text.folding(options: [.diacriticInsensitive], locale: nil)
    }

    /// `text` without leading and trailing whitespace and newlines. Works on Unicode scalars: splitting
    /// into grapheme clusters to ask `Character.isWhitespace` costs more than the rest of a comparison.
    @inlinable package static func trim(_ text: some StringProtocol) -> Substring {
        let whole = Substring(text)
        // Most values start and end with a visible ASCII character: nothing to trim.
        if let first = whole.utf8.first, let last = whole.utf8.last, (0x21...0x7E).contains(first), (0x21...0x7E).contains(last) {
            return whole
        }
        let scalars = whole.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return Substring(scalars[first...last])
    }

    /// Whether `text` is empty or only whitespace.
    @inlinable package static func isBlank(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }

    /// Whether folded `text` contains folded `needle`, compared as UTF-8 bytes. Both sides come out of
    /// `fold`, which removes the combining marks that make canonically equal text differ in bytes, so a
    /// byte search is exact here and avoids Foundation's bridged, locale-aware search.
    @inlinable package static func foldedContains(_ text: String, _ needle: String) -> Bool {
        var work = 0
        return foldedContains(text, needle, work: &work)
    }

    /// `foldedContains`, adding the bytes it compared to `work`: a naive search costs up to the text's
    /// length times the needle's, and the evaluation budget charges what was really done.
    @inlinable package static func foldedContains(_ text: String, _ needle: String, work: inout Int) -> Bool {
        if needle.isEmpty { return true }
        var compared = 0
        defer { work += compared }
        var text = text, needle = needle
        return text.withUTF8 { haystack in
            needle.withUTF8 { pattern in
                guard pattern.count <= haystack.count, let head = pattern.first else { return false }
                var start = 0
                let lastStart = haystack.count - pattern.count
                while start <= lastStart {
                    compared += 1
                    if haystack[start] == head {
                        var offset = 1
                        while offset < pattern.count, haystack[start + offset] == pattern[offset] { offset += 1 }
                        compared += offset - 1
                        if offset == pattern.count { return true }
                    }
                    start += 1
                }
                return false
            }
        }
    }

    /// A number from a field value (`"2500"`, `" 99.5 "`, `"1e3"`); `nil` when it is not one.
    @inlinable package static func number(_ text: String) -> Double? {
        let trimmed = trim(text)
        guard !trimmed.isEmpty, let value = Double(trimmed), value.isFinite else { return nil }
        return value
    }

    /// Equality used by `equals`, `in`, `changed_to`: numeric when both sides are numbers, else folded text.
    @inlinable package static func same(_ lhs: String, _ rhs: String) -> Bool {
        if let a = number(lhs), let b = number(rhs) { return a == b }
        return fold(lhs) == fold(rhs)
    }
}

