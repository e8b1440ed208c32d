import Foundation

// MARK: - Folding and comparison

/// Text normalisation shared by conditions and field keys: leads write "Preço", "preco" and "PREÇO " and
/// mean the same word.
package enum TextFold {
    /// Trimmed, lowercased, accents removed.
    ///
    /// Most values (ids, enum values, English and many Portuguese words) are ASCII, which has no accents to
    /// remove; those take a plain-Swift path, because Foundation's folding and trimming go through NSString
    /// on Linux and dominated evaluation time in profiles.
    package static func fold(_ text: String) -> String {
        let trimmed = trim(text)
        if trimmed.utf8.allSatisfy({ $0 < 0x80 }) { return trimmed.lowercased() }
        return String(trimmed).folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }

    /// Accents removed, case kept: what a case-insensitive regular expression runs on.
    package static func stripAccents(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        return text.folding(options: [.diacriticInsensitive], locale: nil)
    }

    /// `text` without leading and trailing whitespace and newlines. Works on Unicode scalars: splitting
    /// into grapheme clusters to ask `Character.isWhitespace` costs more than the rest of a comparison.
    package static func trim(_ text: some StringProtocol) -> Substring {
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
    package static func isBlank(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }

    /// Whether folded `text` contains folded `needle`, compared as UTF-8 bytes. Both sides come out of
    /// `fold`, which removes the combining marks that make canonically equal text differ in bytes, so a
    /// byte search is exact here and avoids Foundation's bridged, locale-aware search.
    package static func foldedContains(_ text: String, _ needle: String) -> Bool {
        if needle.isEmpty { return true }
        var text = text, needle = needle
        return text.withUTF8 { haystack in
            needle.withUTF8 { pattern in
                guard pattern.count <= haystack.count, let head = pattern.first else { return false }
                var start = 0
                let lastStart = haystack.count - pattern.count
                while start <= lastStart {
                    if haystack[start] == head {
                        var offset = 1
                        while offset < pattern.count, haystack[start + offset] == pattern[offset] { offset += 1 }
                        if offset == pattern.count { return true }
                    }
                    start += 1
                }
                return false
            }
        }
    }

    /// A number from a field value (`"2500"`, `" 99.5 "`, `"1e3"`); `nil` when it is not one.
    package static func number(_ text: String) -> Double? {
        let trimmed = trim(text)
        guard !trimmed.isEmpty, let value = Double(trimmed), value.isFinite else { return nil }
        return value
    }

    /// Equality used by `equals`, `in`, `changed_to`: numeric when both sides are numbers, else folded text.
    package static func same(_ lhs: String, _ rhs: String) -> Bool {
        if let a = number(lhs), let b = number(rhs) { return a == b }
        return fold(lhs) == fold(rhs)
    }
}

// MARK: - Bounded regular expressions

/// Why a pattern was refused.
package enum PatternError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Longer than `BoundedPattern.maxPatternLength`.
    case tooLong(Int)
    /// A quantified group that itself contains a quantifier: `(a+)+` backtracks exponentially.
    case nestedQuantifier
    /// ICU did not compile it.
    case invalid(String)

    /// A message for a validation problem.
    package var description: String {
        switch self {
        case .tooLong(let length):
            "the pattern is \(length) characters long; the limit is \(BoundedPattern.maxPatternLength)"
        case .nestedQuantifier:
            "a repeated group contains a repetition (like (a+)+), which can take exponential time; simplify the pattern"
        case .invalid(let reason):
            "the pattern does not compile: \(reason)"
        }
    }
}

/// A regular expression with limits that keep one tenant's rule from stalling evaluation: a pattern length
/// cap, a refusal of nested quantifiers (the classic catastrophic-backtracking shape), and an input cap.
/// Matching ignores case and accents.
package struct BoundedPattern: Sendable {
    /// The longest accepted pattern.
    package static let maxPatternLength = 512
    /// Only this many leading characters of the input are searched; a lead's message rarely needs more.
    package static let maxInputLength = 4096

    /// The pattern as written.
    package let source: String
    // NSRegularExpression is immutable after creation and documented as safe to share between threads.
    private let regex: NSRegularExpression

    /// Compiles `source` or explains why it is refused.
    package init(_ source: String) throws(PatternError) {
        guard source.count <= Self.maxPatternLength else { throw .tooLong(source.count) }
        if Self.hasNestedQuantifier(source) { throw .nestedQuantifier }
        do {
            // Accents are stripped from the pattern as from the input; regex syntax is ASCII, so only
            // literal letters change.
            regex = try NSRegularExpression(pattern: TextFold.stripAccents(source), options: [.caseInsensitive])
        } catch {
            throw .invalid("\(error.localizedDescription)")
        }
        self.source = source
    }

    /// Whether the pattern occurs anywhere in `text` (case- and accent-insensitive).
    package func matches(_ text: String) -> Bool {
        matches(prepared: Self.prepare(text))
    }

    /// Whether the pattern occurs in text already passed through `prepare`, so that one message can be
    /// prepared once for many patterns.
    package func matches(prepared input: String) -> Bool {
        let range = NSRange(input.startIndex..<input.endIndex, in: input)
        return regex.firstMatch(in: input, options: [], range: range) != nil
    }

    /// `text` capped at `maxInputLength` characters with accents removed.
    package static func prepare(_ text: String) -> String {
        TextFold.stripAccents(String(text.prefix(maxInputLength)))
    }

    /// Finds a group with an unbounded repetition inside that is itself repeated (`(a+)+`, `(\w*\s)*`,
    /// `((ab)+){2,}`). A scan of the syntax, not a full parser: escapes and character classes are skipped.
    static func hasNestedQuantifier(_ pattern: String) -> Bool {
        let chars = Array(pattern)
        // One flag per open group: does it contain a repetition?
        var stack: [Bool] = [false]
        var index = 0
        func isRepeat(at position: Int) -> Bool {
            guard position < chars.count else { return false }
            return chars[position] == "*" || chars[position] == "+" || chars[position] == "{"
        }
        while index < chars.count {
            let char = chars[index]
            switch char {
            case "\\":
                index += 2
                continue
            case "[":
                // Skip the class; a `]` right after `[` or `[^` is a literal.
                index += 1
                if index < chars.count, chars[index] == "^" { index += 1 }
                if index < chars.count, chars[index] == "]" { index += 1 }
                while index < chars.count, chars[index] != "]" {
                    index += chars[index] == "\\" ? 2 : 1
                }
            case "(":
                stack.append(false)
            case ")":
                let inner = stack.count > 1 ? stack.removeLast() : false
                let repeated = isRepeat(at: index + 1)
                if inner && repeated { return true }
                stack[stack.count - 1] = stack[stack.count - 1] || inner || repeated
            case "*", "+", "{":
                stack[stack.count - 1] = true
            default:
                break
            }
            index += 1
        }
        return false
    }
}
