import CRE2
import Domain
import Foundation

/// One compiled RE2 program, freed with its last reference.
///
/// `@unchecked Sendable`: the C object is never mutated after `cre2_compile` returns, and RE2 documents
/// matching on a `const RE2` as safe from any number of threads at once (its caches lock internally). There
/// is no state of ours to protect.
final class RE2Program: @unchecked Sendable {
    private let regex: OpaquePointer

    /// Compiles `pattern`, or throws RE2's reason for refusing it.
    init(_ pattern: String, caseInsensitive: Bool, maxMemory: Int64) throws(PatternError) {
        var pattern = pattern
        var message: UnsafeMutablePointer<CChar>?
        let compiled = pattern.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                cre2_compile(chars.baseAddress, chars.count, caseInsensitive ? 1 : 0, maxMemory, &message)
            }
        }
        guard let compiled else {
            let reason = message.map { String(cString: $0) } ?? "unknown error"
            free(message)
            throw .invalid(reason)
        }
        regex = compiled
    }

    deinit { cre2_free(regex) }

    /// Whether the pattern occurs anywhere in `text`.
    func partialMatch(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                // An empty buffer may have no base address; RE2 takes (NULL, 0) as the empty string.
                cre2_partial_match(regex, chars.baseAddress, chars.count) != 0
            }
        }
    }
}
