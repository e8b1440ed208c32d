// MARK: - Errors

/// Why a form body was refused: it exceeded one of the decoder's bounds, or held a NUL byte.
///
/// The decoder is lenient about malformed text (see ``FormDecoder``) and strict only about size, so
/// that a hostile body costs at most linear work and bounded memory, and about NUL, which no Kommo
/// field holds and which the wire between services cannot carry in a string.
package typealias FormDecodingError = BodyRefusal<FormDecodingBound>

/// Which bound of ``FormDecoder/Limits`` a body exceeded, or that it held a NUL byte
/// (``FormDecodingError``'s code).
package enum FormDecodingBound: String, Hashable, Sendable {
    /// More `key=value` pairs than ``FormDecoder/Limits/maxPairs``.
    case tooManyPairs = "too_many_pairs"
    /// A key longer than ``FormDecoder/Limits/maxKeyLength`` bytes.
    case keyTooLong = "key_too_long"
    /// A key with more bracket levels than ``FormDecoder/Limits/maxDepth``.
    case tooDeep = "too_deep"
    /// A key or value that decodes to a NUL byte (`%00`, or a raw one).
    case nulByte = "nul_byte"
}

// MARK: - Decoder

/// Decodes `application/x-www-form-urlencoded` bodies with PHP-style bracket keys into a ``FormValue``.
///
/// Rules (chosen to match PHP's `$_POST`, which is what Kommo's webhooks are written for, except where
/// noted):
/// - Pairs are separated by `&`; empty pairs (`&&`) are skipped. A pair without `=` has an empty value.
/// - `+` is a space and `%XX` is a byte, in keys and values alike, so `%5B`/`%5D` are brackets. Bytes
///   that are not valid UTF-8 become U+FFFD.
/// - An invalid escape (`%`, `%4`, `%zz`) is kept literally rather than rejected, as PHP's `urldecode`
///   does: a webhook with one odd character is still worth recording, and the encoder escapes `%`, so
///   round trips are unaffected.
/// - A key of the exact form `name[seg][seg]…` (non-empty `name` without `[`, segments without `]`)
///   is a path; `[]` appends at the next index (one past the largest numeric key so far, as in PHP).
///   Any other key containing brackets (`a[b`, `a[b]c`, `[a]`) is kept whole as one flat key, where PHP
///   would silently mangle or truncate it.
/// - A key or value that decodes to a NUL byte is refused (``FormDecodingBound/nulByte``): no Kommo
///   field holds one, C strings end at it, and PHP would keep it only to surprise whoever reads it.
/// - The last assignment to a path wins, whatever was there: `a=1&a=2` gives `a=2`; `a=1&a[b]=2` turns
///   `a` into a map; `a[b]=2&a=1` turns it back into the leaf `1`. A key keeps the position of its
///   first appearance.
///
/// Bounds (``Limits``) are checked as the body is read, before any work proportional to the offending
/// part is done. With them, decoding is linear in the body size: lookups are hashed, appends track
/// their next index, and every pair walks at most `maxDepth + 1` levels.
package enum FormDecoder {
    /// The decoder's bounds. The body's total size is capped by the caller before decoding.
    package struct Limits: Hashable, Sendable {
        /// The most non-empty `key=value` pairs in one body.
        package var maxPairs: Int
        /// The longest key, in bytes after percent-decoding.
        package var maxKeyLength: Int
        /// The most bracket segments after the name (`a[b][c]` has 2).
        package var maxDepth: Int

        /// Bounds with the given values.
        package init(maxPairs: Int, maxKeyLength: Int, maxDepth: Int) {
            self.maxPairs = maxPairs
            self.maxKeyLength = maxKeyLength
            self.maxDepth = maxDepth
        }

        /// Generous for Kommo (its deepest keys have 7 segments and well under 100 bytes, its largest
        /// bodies a few thousand pairs) and small enough to keep a hostile body cheap.
        package static let `default` = Limits(maxPairs: 10_000, maxKeyLength: 1_024, maxDepth: 16)
    }

    /// Decodes `body`; the result is always a `.map`, empty for an empty body.
    package static func decode(_ body: String, limits: Limits = .default) throws(FormDecodingError) -> FormValue {
        try decode(Array(body.utf8), limits: limits)
    }

    /// Decodes the raw bytes of a body; the result is always a `.map`, empty for an empty body.
    package static func decode(_ body: [UInt8], limits: Limits = .default) throws(FormDecodingError) -> FormValue {
        let root = Node()
        var pairs = 0
        var start = 0
        while start <= body.count {
            let end = body[start...].firstIndex(of: UInt8(ascii: "&")) ?? body.count
            defer { start = end + 1 }
            if end == start { continue }
            pairs += 1
            if pairs > limits.maxPairs {
                throw FormDecodingError(
                    code: .tooManyPairs,
                    reason: "the body has more than \(limits.maxPairs) key=value pairs"
                )
            }
            let pair = body[start..<end]
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawKey = pair[pair.startIndex..<(equals ?? pair.endIndex)]
            // Every decoded byte takes at least one and at most three raw bytes, so this cheap check
            // refuses an enormous key before any decoding work is spent on it.
            if rawKey.count > limits.maxKeyLength * 3 {
                throw keyTooLong(percentDecode(rawKey.prefix(120)), limits: limits)
            }
            let key = percentDecode(rawKey)
            if key.count > limits.maxKeyLength {
                throw keyTooLong(key, limits: limits)
            }
            if let offset = key.firstIndex(of: 0) {
                throw nulByte(in: key, at: offset, pair: pairs, isKey: true)
            }
            let path = try parsePath(key, limits: limits)
            let valueBytes = equals.map { percentDecode(pair[($0 + 1)...]) } ?? []
            if let offset = valueBytes.firstIndex(of: 0) {
                throw nulByte(in: key, at: offset, pair: pairs, isKey: false)
            }
            root.assign(String(decoding: valueBytes, as: UTF8.self), at: path)
        }
        return .map(root.frozen())
    }

    // MARK: Key paths

    /// One step of a key path: a named child, or `[]`, the next free index.
    enum Segment: Equatable {
        /// A named (or explicitly numbered) child.
        case key(String)
        /// `[]`: the next free index of the map, as PHP assigns it.
        case append
    }

    /// Splits a decoded key into its path; keys that are not well-formed bracket paths stay whole.
    static func parsePath(_ key: [UInt8], limits: Limits) throws(FormDecodingError) -> [Segment] {
        let open = UInt8(ascii: "["), close = UInt8(ascii: "]")
        guard let firstOpen = key.firstIndex(of: open), firstOpen > 0 else {
            return [.key(String(decoding: key, as: UTF8.self))]
        }
        var path: [Segment] = [.key(String(decoding: key[..<firstOpen], as: UTF8.self))]
        var index = firstOpen
        while index < key.count {
            // Anything but `[` after a closed segment makes the key malformed: keep it flat.
            guard key[index] == open,
                  let closing = key[(index + 1)...].firstIndex(of: close) else {
                return [.key(String(decoding: key, as: UTF8.self))]
            }
            if path.count > limits.maxDepth {
                throw FormDecodingError(
                    code: .tooDeep,
                    reason: "key \(preview(key)) nests deeper than \(limits.maxDepth) levels"
                )
            }
            let segment = key[(index + 1)..<closing]
            path.append(segment.isEmpty ? .append : .key(String(decoding: segment, as: UTF8.self)))
            index = closing + 1
        }
        return path
    }

    /// The error for a key over the length limit, quoting its start.
    static func keyTooLong(_ key: [UInt8], limits: Limits) -> FormDecodingError {
        FormDecodingError(
            code: .keyTooLong,
            reason: "key \(preview(key)) is longer than \(limits.maxKeyLength) bytes"
        )
    }

    /// The error for a NUL byte in the key or the value of the `pair`-th pair, naming the key (with the
    /// NUL written as `\0`, so the message itself carries none).
    static func nulByte(in key: [UInt8], at offset: Int, pair: Int, isKey: Bool) -> FormDecodingError {
        var visible: [UInt8] = []
        for byte in key {
            if byte == 0 { visible += [UInt8(ascii: "\\"), UInt8(ascii: "0")] } else { visible.append(byte) }
        }
        let shown = preview(visible)
        let place = isKey ? "the key \(shown) holds a NUL byte (%00) at byte \(offset)"
            : "the value of key \(shown) holds a NUL byte (%00) at byte \(offset)"
        return FormDecodingError(code: .nulByte, reason: "pair \(pair): \(place); form fields never contain NUL")
    }

    /// The start of a key for an error message: short, and quoted so that odd bytes are visible.
    static func preview(_ key: [UInt8]) -> String {
        let head = String(decoding: key.prefix(48), as: UTF8.self)
        return (key.count > 48 ? "\"\(head)…\"" : "\"\(head)\"")
    }

    // MARK: Percent-decoding

    /// Decodes `+` and `%XX`; invalid escapes are kept as they are.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        let percent = UInt8(ascii: "%"), plus = UInt8(ascii: "+")
        guard bytes.contains(where: { $0 == percent || $0 == plus }) else { return Array(bytes) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == plus {
                out.append(UInt8(ascii: " "))
            } else if byte == percent, index + 2 < bytes.endIndex,
                      let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Tree under construction

    /// A mutable map used only while one body is decoded, then frozen into a ``FormMap``.
    ///
    /// A reference type so that descending a path mutates in place instead of copying subtrees.
    private final class Node {
        enum Slot {
            case string(String)
            case map(Node)
        }

        /// Keys in first-appearance order, their values alongside, and each key's position: a key is
        /// hashed once per assignment, and freezing needs no lookups.
        var keys: [String] = []
        var slots: [Slot] = []
        var positions: [String: Int] = [:]
        /// The index `[]` appends at: one past the largest numeric key seen, as in PHP.
        var nextIndex: UInt64 = 0

        func assign(_ value: String, at path: [Segment]) {
            var node = self
            for (depth, segment) in path.enumerated() {
                let key = node.resolve(segment)
                if depth == path.count - 1 {
                    node.set(key, .string(value))
                } else if let position = node.positions[key], case .map(let child) = node.slots[position] {
                    node = child
                } else {
                    let child = Node()
                    node.set(key, .map(child))
                    node = child
                }
            }
        }

        private func resolve(_ segment: Segment) -> String {
            switch segment {
            case .key(let key): key
            case .append: String(nextIndex)
            }
        }

        private func set(_ key: String, _ slot: Slot) {
            if let position = positions[key] {
                slots[position] = slot
            } else {
                positions[key] = keys.count
                keys.append(key)
                slots.append(slot)
            }
            if FormMap.isNumericKey(key), let index = UInt64(key), index < .max {
                nextIndex = max(nextIndex, index + 1)
            }
        }

        /// The immutable tree; recursion is bounded by the depth limit.
        func frozen() -> FormMap {
            let values = slots.map { slot -> FormValue in
                switch slot {
                case .string(let text): .string(text)
                case .map(let child): .map(child.frozen())
                }
            }
            return FormMap(uniqueKeys: keys, values: values, positions: positions)
        }
    }
}
