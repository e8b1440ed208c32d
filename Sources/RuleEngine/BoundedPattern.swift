import Domain
import Foundation


/// Why a pattern was refused.
package enum PatternError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Longer than `Limits.patternLength`.
    case tooLong(Int)
    /// RE2 did not accept it: a syntax error, a construct that needs backtracking (backreferences,
    /// lookaround), or a program larger than `BoundedPattern.maxProgramMemory`.
    case invalid(String)

    /// A message for a validation problem.
    package var description: String {
        switch self {
        case .tooLong(let length):
            "the pattern is \(length) characters long; the limit is \(Limits.patternLength)"
        case .invalid(let reason):
            "the pattern does not compile: \(reason) (patterns use RE2 syntax, which matches in linear time and has no backreferences or lookaround)"
        }
    }
}

/// A regular expression that no input can make slow: it runs on RE2, which has no backtracking, so matching
/// costs time linear in the (capped) input for every pattern it accepts — `(a|a)*b` or `(a+)+$` included.
/// What RE2 cannot do in linear time (backreferences, lookaround) it refuses at compile time, and so does
/// validation. Matching ignores case and accents.
///
/// Syntax is RE2's, close to ICU's for what rules use; one difference: `\w`, `\d`, `\s` and `\b` are ASCII
/// classes. Accents are removed from both sides first, so `\w` still matches the letters of "preço".
package struct BoundedPattern: Sendable {
    /// The longest accepted pattern.
    package static var maxPatternLength: Int { Limits.patternLength }
    /// Only this many leading characters of the input are searched; a lead's message rarely needs more.
    package static let maxInputLength = 4096
    /// Memory RE2 may use for one pattern's program and its matching caches; a pattern whose program does
    /// not fit (`(((a{100}){100}){100})`) is refused. RE2's own default is 8 MiB; a rule set holds many
    /// patterns.
    package static let maxProgramMemory: Int64 = 1 << 20

    /// The pattern as written.
    package let source: String
    private let program: RE2Program

    /// Compiles `source` or explains why it is refused.
    package init(_ source: String) throws(PatternError) {
        guard source.count <= Self.maxPatternLength else { throw .tooLong(source.count) }
        // Accents are stripped from the pattern as from the input; regex syntax is ASCII, so only literal
        // letters change.
        program = try RE2Program(TextFold.stripAccents(source), caseInsensitive: true, maxMemory: Self.maxProgramMemory)
        self.source = source
    }

    /// Whether the pattern occurs anywhere in `text` (case- and accent-insensitive).
    package func matches(_ text: String) -> Bool {
        matches(prepared: Self.prepare(text))
    }

    /// Whether the pattern occurs in text already passed through `prepare`, so that one message can be
    /// prepared once for many patterns.
    package func matches(prepared input: String) -> Bool {
        program.partialMatch(input)
    }

    /// `text` capped at `maxInputLength` characters with accents removed.
    package static func prepare(_ text: String) -> String {
        TextFold.stripAccents(String(text.prefix(maxInputLength)))
    }
}
