// MARK: - Decoded form tree

/// One node of a decoded `application/x-www-form-urlencoded` body with PHP-style bracket keys.
///
/// Every leaf is a string, as in PHP's `$_POST`: the form format has no numbers, booleans or nulls.
/// `leads[status][0][id]=1` decodes to `map(leads → map(status → map(0 → map(id → string("1")))))`,
/// so lists are maps whose keys happen to be numeric; see ``FormMap`` for the order of children.
package enum FormValue: Hashable, Sendable {
    case string(String)
    case map(FormMap)

    /// The leaf text, or `nil` for a map.
    package var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The children, or `nil` for a leaf.
    package var map: FormMap? {
        if case .map(let map) = self { return map }
        return nil
    }

    /// The child under `key`; `nil` when absent or when this node is a leaf.
    package subscript(key: String) -> FormValue? {
        map?[key]
    }

    /// The child under the numeric key `index` (`value["leads"]?["add"]?[0]`).
    package subscript(index: Int) -> FormValue? {
        map?[String(index)]
    }

    /// The children in iteration order; empty for a leaf, so loops need no unwrapping.
    package var entries: [FormMap.Entry] {
        map?.entries ?? []
    }

    /// The leaf read as a decimal integer (surrounding spaces allowed); `nil` for maps and non-numbers.
    package var int64: Int64? {
        guard let text = string else { return nil }
        return Int64(text.trimmingASCIISpaces())
    }
}

extension FormValue: ExpressibleByStringLiteral {
    /// A leaf, so tests can write trees as literals.
    package init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension FormValue: ExpressibleByDictionaryLiteral {
    /// A map in the literal's order (then put in ``FormMap``'s canonical order).
    package init(dictionaryLiteral elements: (String, FormValue)...) {
        self = .map(FormMap(elements))
    }
}

// MARK: - Ordered children

/// The children of a map node, in a canonical order.
///
/// Order: keys that are canonical non-negative decimal numbers (`0`, `7`, `12`, not `007`) come first,
/// ascending by numeric value; then every other key in the order it first appeared in the body.
/// PHP would keep plain insertion order for both, but Kommo item lists may arrive sparse or out of
/// order (`[5]` before `[2]`), and numbered items are meant to be read by number. Named keys keep body
/// order so that entities and actions are processed in the order Kommo sent them.
///
/// Equality compares keys and values in that order; since the order is a function of the keys and the
/// first-appearance order of named keys, two maps built from the same pairs are equal.
package struct FormMap: Hashable, Sendable {
    /// One child: its key (already percent-decoded) and its value.
    package struct Entry: Hashable, Sendable {
        package var key: String
        package var value: FormValue

        /// A child under `key`.
        package init(key: String, value: FormValue) {
            self.key = key
            self.value = value
        }
    }

    /// The children in canonical order.
    package private(set) var entries: [Entry]
    /// Key → position in `entries`, so lookups stay O(1) however wide a map is.
    private var positions: [String: Int]

    /// An empty map.
    package init() {
        entries = []
        positions = [:]
    }

    /// A map of `pairs`; a repeated key keeps its first position and its last value.
    package init(_ pairs: some Sequence<(String, FormValue)>) {
        var keys: [String] = []
        var values: [FormValue] = []
        var positions: [String: Int] = [:]
        for (key, value) in pairs {
            if let position = positions[key] {
                values[position] = value
            } else {
                positions[key] = keys.count
                keys.append(key)
                values.append(value)
            }
        }
        self.init(uniqueKeys: keys, values: values, positions: positions)
    }

    /// Builds the canonical order from distinct keys in first-appearance order, their values, and
    /// each key's index in `keys`.
    ///
    /// The usual shapes (only named keys, or numeric keys already ascending and first) are in
    /// canonical order as they stand, so `positions` is reused and nothing is sorted or rehashed.
    init(uniqueKeys keys: [String], values: [FormValue], positions: [String: Int]) {
        let isNumeric = keys.map(FormMap.isNumericKey)
        let numericCount = isNumeric.lazy.filter { $0 }.count
        let alreadyCanonical = isNumeric.prefix(numericCount).allSatisfy { $0 }
            && zip(keys.prefix(numericCount), keys.prefix(numericCount).dropFirst()).allSatisfy(FormMap.numericallyPrecedes)
        if alreadyCanonical {
            entries = zip(keys, values).map { Entry(key: $0, value: $1) }
            self.positions = positions
            return
        }
        var numeric: [Int] = []
        var named: [Int] = []
        numeric.reserveCapacity(numericCount)
        named.reserveCapacity(keys.count - numericCount)
        for index in keys.indices {
            if isNumeric[index] { numeric.append(index) } else { named.append(index) }
        }
        numeric.sort { FormMap.numericallyPrecedes(keys[$0], keys[$1]) }
        var entries: [Entry] = []
        entries.reserveCapacity(keys.count)
        var reordered: [String: Int] = [:]
        reordered.reserveCapacity(keys.count)
        for index in numeric + named {
            reordered[keys[index]] = entries.count
            entries.append(Entry(key: keys[index], value: values[index]))
        }
        self.entries = entries
        self.positions = reordered
    }

    /// The child under `key`, if any.
    package subscript(key: String) -> FormValue? {
        positions[key].map { entries[$0].value }
    }

    /// The keys in canonical order.
    package var keys: [String] { entries.map(\.key) }
    /// The number of children.
    package var count: Int { entries.count }
    /// Whether there are no children.
    package var isEmpty: Bool { entries.isEmpty }

    package static func == (lhs: FormMap, rhs: FormMap) -> Bool {
        lhs.entries == rhs.entries
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(entries)
    }

    // MARK: Numeric keys

    /// Whether `key` is a canonical decimal index: digits only, no leading zero unless it is `0`.
    ///
    /// `007` is not: it would not survive a round trip through a number, and PHP keeps it as a string key.
    package static func isNumericKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard let first = utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { return false }
        if first == UInt8(ascii: "0") { return utf8.count == 1 }
        return utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Numeric order for canonical decimal strings of any length, without converting to an integer type
    /// that a 30-digit index would overflow: shorter is smaller, equal lengths compare digit by digit.
    static func numericallyPrecedes(_ lhs: String, _ rhs: String) -> Bool {
        let left = lhs.utf8, right = rhs.utf8
        if left.count != right.count { return left.count < right.count }
        return left.lexicographicallyPrecedes(right)
    }
}

extension FormMap: ExpressibleByDictionaryLiteral {
    /// A map in the literal's order (then put in canonical order).
    package init(dictionaryLiteral elements: (String, FormValue)...) {
        self.init(elements)
    }
}

// MARK: - Descriptions

extension FormValue: CustomStringConvertible {
    /// A compact, JSON-like rendering (`{"a": {"0": "x"}}`), readable in logs and test failures.
    package var description: String {
        switch self {
        case .string(let text): text.debugDescription
        case .map(let map): map.description
        }
    }
}

extension FormMap: CustomStringConvertible {
    /// A compact, JSON-like rendering of the children in order.
    package var description: String {
        "{" + entries.map { "\($0.key.debugDescription): \($0.value)" }.joined(separator: ", ") + "}"
    }
}

// MARK: - Helpers

extension String {
    /// The text without leading and trailing ASCII spaces and tabs; Foundation-free and cheap.
    func trimmingASCIISpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}
