// MARK: - Encoder

/// Encodes a ``FormValue`` tree as an `application/x-www-form-urlencoded` body with bracket keys,
/// the inverse of ``FormDecoder``.
///
/// Pairs come out in ``FormMap``'s canonical order, depth first. Brackets are written as `%5B`/`%5D`,
/// as Kommo does; every byte outside `A–Z a–z 0–9 - . _ ~` is percent-escaped, and a space is `+`.
///
/// What cannot round-trip, because the form format has no way to say it:
/// - an empty map produces no pair and so disappears (a root that is a leaf has no name: it encodes
///   as the empty body);
/// - a nested key that is empty encodes as `[]`, which decodes as "append";
/// - a nested key containing `]`, or a top-level key containing `[`, is read back with a different
///   shape, because brackets are structure once decoded whether or not they were escaped.
package enum FormEncoder {
    /// The body for `value`; see the type's notes for the few trees that do not survive a round trip.
    package static func encode(_ value: FormValue) -> String {
        guard case .map(let map) = value else { return "" }
        return encode(map)
    }

    /// The body for the children of `map`.
    package static func encode(_ map: FormMap) -> String {
        var out: [UInt8] = []
        var first = true
        for entry in map.entries {
            var prefix: [UInt8] = []
            appendEscaped(entry.key, to: &prefix)
            write(entry.value, prefix: &prefix, first: &first, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func write(_ value: FormValue, prefix: inout [UInt8], first: inout Bool, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            if !first { out.append(UInt8(ascii: "&")) }
            first = false
            out.append(contentsOf: prefix)
            out.append(UInt8(ascii: "="))
            appendEscaped(text, to: &out)
        case .map(let map):
            let mark = prefix.count
            for entry in map.entries {
                // The prefix buffer is extended and cut back in place, so deep trees cost no copies.
                prefix.append(contentsOf: openBracket)
                appendEscaped(entry.key, to: &prefix)
                prefix.append(contentsOf: closeBracket)
                write(entry.value, prefix: &prefix, first: &first, to: &out)
                prefix.removeSubrange(mark...)
            }
        }
    }

    private static let openBracket = Array("%5B".utf8)
    private static let closeBracket = Array("%5D".utf8)
    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Appends `text` escaped for a form key or value.
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
    }
}
