import Basics
import Wire

/// Finds members a client sent that the resource does not have.
///
/// The decoders ignore keys they do not know, so a typo (`"cooldown_secs"`) would silently fall back to a
/// default. Comparing what was sent with the decoded resource encoded again finds every such key, at any
/// depth, with the same path format as validation problems.
package enum UnknownKeys {
    /// Paths of members present (and not `null`) in `input` but absent from `canonical`. `readOnly` names
    /// top-level members the server sets itself; clients may send them back unchanged.
    package static func find(input: JSONValue, canonical: JSONValue, readOnly: Set<String> = []) -> [FieldViolation] {
        var found: [FieldViolation] = []
        walk(input, canonical, path: "", readOnly: readOnly, into: &found)
        return found
    }

    private static func walk(_ input: JSONValue, _ canonical: JSONValue, path: String, readOnly: Set<String>, into found: inout [FieldViolation]) {
        switch (input, canonical) {
        case (.object(let sent), .object(let kept)):
            for key in sent.keys.sorted() {
                let value = sent[key] ?? .null
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let counterpart = kept[key] {
                    walk(value, counterpart, path: child, readOnly: [], into: &found)
                } else if value != .null, !(path.isEmpty && readOnly.contains(key)) {
                    found.append(FieldViolation(field: child, message: "is not a known field"))
                }
            }
        case (.array(let sent), .array(let kept)) where sent.count == kept.count:
            for (index, pair) in zip(sent, kept).enumerated() {
                walk(pair.0, pair.1, path: "\(path)[\(index)]", readOnly: [], into: &found)
            }
        default:
            break
        }
    }
}
