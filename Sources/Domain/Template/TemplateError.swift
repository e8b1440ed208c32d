import Foundation

/// Why a template could not be parsed, and where.
///
/// Offsets count `Character`s (what a person sees as one character) from the start of the template, so
/// an editor can put the cursor on the problem.
package struct TemplateError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kinds of problem a template can have.
    package enum Kind: Hashable, Sendable {
        /// The template is longer than `limit` characters.
        case tooLong(limit: Int)
        /// The template has more than `limit` placeholders.
        case tooManyVariables(limit: Int)
        /// A `{{` has no `}}` on the same line.
        case unterminatedPlaceholder
        /// A placeholder has no variable name, e.g. `{{ }}` or `{{|default}}`.
        case emptyVariableName
        /// A `{{` appears inside another placeholder.
        case nestedPlaceholder
        /// A character that cannot appear at that place inside a placeholder (a brace, a pipe in a
        /// name, a control character).
        case invalidCharacter(Character)
    }

    /// What is wrong.
    package var kind: Kind
    /// Where it is, in characters from the start of the template.
    package var offset: Int

    /// Creates an error of `kind` at `offset`.
    package init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    /// A sentence for the person editing the template, naming the position.
    package var message: String {
        switch kind {
        case .tooLong(let limit):
            "The template is longer than \(limit) characters."
        case .tooManyVariables(let limit):
            "The template has more than \(limit) placeholders (the one at character \(offset) is over the limit)."
        case .unterminatedPlaceholder:
            "The placeholder opened with {{ at character \(offset) is not closed with }} on the same line."
        case .emptyVariableName:
            "The placeholder at character \(offset) has no variable name."
        case .nestedPlaceholder:
            "A placeholder cannot contain another {{ (character \(offset))."
        case .invalidCharacter(let character):
            "The character \(Self.describe(character)) at character \(offset) is not allowed inside a placeholder."
        }
    }

    /// The same message, so that logs and `String(describing:)` show something useful.
    package var description: String { message }

    /// The error as a field-level problem of the field that holds the template.
    package func fieldProblem(field: String) -> FieldProblem {
        FieldProblem(field: field, message: message)
    }

    /// Quotes printable characters and spells out invisible ones, which would otherwise vanish in the
    /// message.
    private static func describe(_ character: Character) -> String {
        let scalars = character.unicodeScalars
        if scalars.contains(where: { $0.properties.generalCategory == .control }) {
            return scalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ")
        }
        return "'\(character)'"
    }
}
