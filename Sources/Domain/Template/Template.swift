import Foundation

/// A message template or sales script with `{{...}}` placeholders, parsed once and rendered many times.
///
/// Syntax:
/// - `{{lead.name}}`: a variable; whitespace inside the braces is ignored (`{{ lead.name }}`), and names
///   are matched case-insensitively.
/// - `{{lead.cf.Callback date}}`: a lead custom field by id or name (names may contain spaces).
/// - `{{contact.first_name|there}}`: a default after the first `|`, used when the value is missing. It is
///   trimmed and may contain spaces, punctuation, `|` and a lone `}`, but not `{` or `}}`.
/// - A placeholder must close on the line it opens on. There is no escape for a literal `{{`: script
///   text never needs one, and forbidding it is what guarantees that rendered output contains no
///   placeholder left over from the template.
///
/// See ``TemplateVocabulary`` for the names understood without declaration.
package struct Template: Hashable, Sendable, CustomStringConvertible {
    /// Longest template accepted, in characters; longer scripts are a mistake or an abuse, and the cap
    /// bounds parse and render work per message.
    package static let maximumLength = 20_000
    /// Most placeholders accepted in one template.
    package static let maximumVariables = 500

    /// The text the template was parsed from.
    package let source: String
    /// The template as alternating text and placeholders, in order.
    package let segments: [TemplateSegment]

    /// Parses `source`.
    ///
    /// - Throws: ``TemplateError`` for a template that is too long, has too many placeholders, or has a
    ///   malformed placeholder (unterminated, empty name, nested, invalid character), with the offset of
    ///   the problem.
    package init(parsing source: String) throws(TemplateError) {
        // Counting a huge string is itself work an attacker controls, so count at most one past the cap.
        if source.utf8.count > Self.maximumLength, source.prefix(Self.maximumLength + 1).count > Self.maximumLength {
            throw TemplateError(.tooLong(limit: Self.maximumLength), at: Self.maximumLength)
        }
        self.source = source
        self.segments = try TemplateParser(Array(source)).parse()
    }

    /// The placeholders in order of appearance, repeats included.
    package var variables: [TemplateVariable] {
        segments.compactMap { segment in
            if case .variable(let variable) = segment { variable } else { nil }
        }
    }

    /// The names used by the template that are neither built in (``TemplateVocabulary``) nor in
    /// `known`, each once, in order of first appearance and spelled as in the template.
    ///
    /// Meant for a warning when a script is saved: an unknown name is probably a typo and would render
    /// as its default, as empty, or block the send.
    package func unknownVariables(known: some Sequence<String>) -> [String] {
        let declared = Set(known.map(TemplateVocabulary.normalize))
        var reported = Set<String>()
        var unknown: [String] = []
        for variable in variables where !variable.isBuiltIn {
            let name = TemplateVocabulary.normalize(variable.path)
            if !declared.contains(name), reported.insert(name).inserted {
                unknown.append(variable.path)
            }
        }
        return unknown
    }

    /// The source text.
    package var description: String { source }
}

// MARK: - Codable

/// Stored and sent as its source string; decoding parses, so an invalid template never gets in.
extension Template: Codable {
    /// Decodes a source string and parses it.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let source = try container.decode(String.self)
        do {
            try self.init(parsing: source)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes the source string.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(source)
    }
}

// MARK: - Parser

/// A single left-to-right scan over the characters of a template.
///
/// Every `{{` starts a placeholder (the leftmost one wins), so literal text never contains `{{` and
/// never ends in `{` right before a placeholder. Together with rejecting `{` inside placeholders, this
/// means no `{{` can appear in rendered output unless a supplied value brings it.
private struct TemplateParser {
    let characters: [Character]

    init(_ characters: [Character]) {
        self.characters = characters
    }

    func parse() throws(TemplateError) -> [TemplateSegment] {
        var segments: [TemplateSegment] = []
        var literal = ""
        var variableCount = 0
        var index = 0
        while index < characters.count {
            guard isDoubleBrace("{", at: index) else {
                literal.append(characters[index])
                index += 1
                continue
            }
            let close = try closingIndex(ofPlaceholderAt: index)
            variableCount += 1
            if variableCount > Template.maximumVariables {
                throw TemplateError(.tooManyVariables(limit: Template.maximumVariables), at: index)
            }
            let variable = try placeholder(openingAt: index, bodyEnd: close)
            if !literal.isEmpty {
                segments.append(.literal(literal))
                literal = ""
            }
            segments.append(.variable(variable))
            index = close + 2
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        return segments
    }

    private func isDoubleBrace(_ brace: Character, at index: Int) -> Bool {
        index + 1 < characters.count && characters[index] == brace && characters[index + 1] == brace
    }

    /// The index of the `}}` closing the placeholder opened at `open`.
    private func closingIndex(ofPlaceholderAt open: Int) throws(TemplateError) -> Int {
        var index = open + 2
        while index < characters.count {
            if isDoubleBrace("}", at: index) { return index }
            if isDoubleBrace("{", at: index) { throw TemplateError(.nestedPlaceholder, at: index) }
            // Stopping at the line end points a forgotten `}}` at its own `{{` instead of at some
            // later line's `}}`.
            if characters[index].isNewline { break }
            index += 1
        }
        throw TemplateError(.unterminatedPlaceholder, at: open)
    }

    /// The variable between `open + 2` and `bodyEnd` (exclusive).
    private func placeholder(openingAt open: Int, bodyEnd: Int) throws(TemplateError) -> TemplateVariable {
        let bodyStart = open + 2
        let pipe = characters[bodyStart..<bodyEnd].firstIndex(of: "|")
        let nameEnd = pipe ?? bodyEnd
        for index in bodyStart..<bodyEnd {
            let character = characters[index]
            let inName = index < nameEnd
            // A lone `}` is harmless in a default ("smile :}"), but in a name it is surely a typo.
            if character == "{" || (inName && character == "}") || Self.isControl(character) {
                throw TemplateError(.invalidCharacter(character), at: index)
            }
        }
        let name = String(characters[bodyStart..<nameEnd]).trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw TemplateError(.emptyVariableName, at: open) }
        let defaultValue = pipe.map { String(characters[($0 + 1)..<bodyEnd]).trimmingCharacters(in: .whitespaces) }
        return TemplateVariable(path: name, defaultValue: defaultValue, offset: open)
    }

    /// Control characters other than the tab, which counts as whitespace.
    private static func isControl(_ character: Character) -> Bool {
        character != "\t" && character.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}
