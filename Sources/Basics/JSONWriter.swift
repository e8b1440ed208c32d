// MARK: - Writing JSON by hand

/// Writes JSON text straight into bytes, for the few hot paths where `JSONEncoder`'s generic machinery
/// costs more than the work around it (an event stored on intake). The caller decides the order of
/// keys; strings are escaped as RFC 8259 requires (quote, backslash and control characters), everything
/// else is written as UTF-8.
package struct JSONWriter {
    /// The text written so far.
    package private(set) var bytes: [UInt8] = []
    /// Whether the next value in the open container needs a comma before it.
    private var needsComma = false
    /// `needsComma` of each enclosing container.
    private var enclosing: [Bool] = []

    package init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// The text written, as a string.
    package var text: String { String(decoding: bytes, as: UTF8.self) }

    package mutating func beginObject() { open(UInt8(ascii: "{")) }
    package mutating func endObject() { close(UInt8(ascii: "}")) }
    package mutating func beginArray() { open(UInt8(ascii: "[")) }
    package mutating func endArray() { close(UInt8(ascii: "]")) }

    /// A member's key; the value written next is its value.
    package mutating func key(_ key: String) {
        separate()
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    package mutating func string(_ value: String) {
        separate()
        writeString(value)
        needsComma = true
    }

    package mutating func int(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    package mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    package mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// A member `key` with a string value.
    package mutating func member(_ key: String, _ value: String) {
        self.key(key)
        string(value)
    }

    /// A member `key` with an integer value; nothing when `value` is `nil`.
    package mutating func member(_ key: String, _ value: Int64?) {
        guard let value else { return }
        self.key(key)
        int(value)
    }

    // MARK: Internals

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        enclosing.append(needsComma)
        needsComma = false
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        enclosing.removeLast()
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0x0f)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
