import Foundation

extension JSONValue {
    /// The value as compact JSON text with sorted keys and unescaped slashes, as the stores and RPC
    /// documents keep it.
    ///
    /// JSON has no non-finite numbers; like `JSON.stringify`, they are written as `null`. With them gone,
    /// encoding a `JSONValue` cannot fail, so a failure here is a broken invariant, not an input to handle.
    package var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(finite), as: UTF8.self)
        } catch {
            preconditionFailure("a JSON value without non-finite numbers did not encode: \(error)")
        }
    }

    /// The value with non-finite numbers replaced by `null`.
    private var finite: JSONValue {
        switch self {
        case .number(let value) where !value.isFinite: .null
        case .array(let elements): .array(elements.map(\.finite))
        case .object(let members): .object(members.mapValues(\.finite))
        default: self
        }
    }
}
