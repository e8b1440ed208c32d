// MARK: - Stable hashes

/// FNV-1a (with 128-bit state for new ids): a stable, platform-independent hash for deriving event ids.
///
/// Event ids must be the same across processes, restarts and machines, which rules out Swift's
/// `Hasher` (randomly seeded per process); SHA-256 (`SHA256.hex(of:)`) is the choice
/// where someone could gain from a collision, and costs more per key. FNV-1a 128
/// is small, specified (draft-eastlake-fnv) and spreads short keys well enough for ids. It is not a
/// cryptographic hash: someone able to post to a tenant's webhook URL could in principle craft a
/// colliding key, but that sender can already inject any event it likes, so nothing is lost.
package struct StableHash<Word: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    private let prime: Word
    private var state: Word

    /// A hash of nothing yet, from the FNV specification's offset basis and prime for this width.
    private init(offsetBasis: Word, prime: Word) {
        self.state = offsetBasis
        self.prime = prime
    }

    /// Mixes in raw bytes.
    package mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= Word(byte)
            state &*= prime
        }
    }

    /// Mixes in one component of a composite key, length first, so that `("ab", "c")` and
    /// `("a", "bc")` hash differently.
    package mutating func combine(component: String) {
        let bytes = Array(component.utf8)
        var length = UInt64(bytes.count).littleEndian
        withUnsafeBytes(of: &length) { combine(bytes: $0) }
        combine(bytes: bytes)
    }

    /// The hash value.
    package var value: Word { state }

    /// This hash with `bytes` mixed in.
    package func combining(_ bytes: some Sequence<UInt8>) -> Self {
        var copy = self
        copy.combine(bytes: bytes)
        return copy
    }

    /// The hash as lowercase hex digits, zero-padded to the full width.
    package var hex: String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: Word.bitWidth / 4 - digits.count) + digits
    }
}

/// FNV-1a 128: the hash event ids are derived with.
package typealias StableHash128 = StableHash<UInt128>

/// FNV-1a 64, for ids already written in that form (a timer's event id is `ev_timer_` and the hash of
/// its idempotency key in unpadded hex); new ids take ``StableHash128``.
package typealias StableHash64 = StableHash<UInt64>

extension StableHash<UInt128> {
    /// A hash of nothing yet.
    package init() {
        self.init(offsetBasis: 0x6C62_272E_07BB_0142_62B8_2175_6295_C58D, prime: 0x0000_0000_0100_0000_0000_0000_0000_013B)
    }

    /// The FNV-1a 128 hash of `bytes` as 32 hex digits.
    package static func hex(of bytes: some Sequence<UInt8>) -> String { StableHash128().combining(bytes).hex }
}

extension StableHash<UInt64> {
    /// A hash of nothing yet.
    package init() {
        self.init(offsetBasis: 14_695_981_039_346_656_037, prime: 1_099_511_628_211)
    }

    /// The FNV-1a 64 hash of `bytes`.
    package static func value(of bytes: some Sequence<UInt8>) -> UInt64 { StableHash64().combining(bytes).value }
}
