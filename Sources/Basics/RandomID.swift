// MARK: - Random ids

/// Ids the services mint for what they create: a type prefix (`enr_`, `req_`, `agt_`) and random
/// lowercase hex, so an id says what it names and two ids never meet by chance.
package enum RandomID {
    /// `prefix` followed by `hexDigits` random hex digits (4 random bits each; 20 digits are 80 bits).
    package static func make(_ prefix: String, hexDigits: Int = 20) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(prefix, hexDigits: hexDigits, using: &generator)
    }

    /// The same, drawing from `generator`.
    package static func make(_ prefix: String, hexDigits: Int, using generator: inout some RandomNumberGenerator) -> String {
        var digits: [UInt8] = []
        digits.reserveCapacity(hexDigits)
        var bits: UInt64 = 0
        for index in 0..<max(0, hexDigits) {
            if index % 16 == 0 { bits = generator.next() }
            digits.append(Hex.digits[Int(bits & 0xf)])
            bits >>= 4
        }
        return prefix + String(decoding: digits, as: UTF8.self)
    }
}

// MARK: - Hex

/// Lowercase hexadecimal spelling of bytes.
package enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    /// Two lowercase hex digits per byte, most significant nibble first.
    package static func string(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
