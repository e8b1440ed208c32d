// MARK: - Stable hashes

/// FNV-1a 128: a stable, platform-independent hash for deriving event ids.
///
/// Event ids must be the same across processes, restarts and machines, which rules out Swift's
/// `Hasher` (randomly seeded per process); SHA-256 (`SHA256.hex(of:)`) is the choice
/// where someone could gain from a collision, and costs more per key. FNV-1a 128
/// is small, specified (draft-eastlake-fnv) and spreads short keys well enough for ids. It is not a
/// cryptographic hash: someone able to post to a tenant's webhook URL could in principle craft a
/// colliding key, but that sender can already inject any event it likes, so nothing is lost.
///
/// The 128-bit state is two 64-bit words: the prime is 2⁸⁸ + 0x13B, so one step is a 64×64 multiply
/// and a shift (this runs for every event on intake).
package struct StableHash128: Sendable {
    private var high: UInt64 = 0x6C62_272E_07BB_0142
    private var low: UInt64 = 0x62B8_2175_6295_C58D

    /// A hash of nothing yet (the specification's offset basis).
    package init() {}

    /// Mixes in raw bytes.
    package mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes { step(byte) }
    }

    /// Mixes in one component of a composite key, length first, so that `("ab", "c")` and
    /// `("a", "bc")` hash differently.
    package mutating func combine(component: String) {
        var component = component
        component.withUTF8 { bytes in
            var length = UInt64(bytes.count)
            for _ in 0..<8 {
                step(UInt8(truncatingIfNeeded: length))
                length >>= 8
            }
            for byte in bytes { step(byte) }
        }
    }

    /// This hash with `bytes` mixed in.
    package func combining(_ bytes: some Sequence<UInt8>) -> Self {
        var copy = self
        copy.combine(bytes: bytes)
        return copy
    }

    /// The hash as 32 lowercase hex digits.
    package var hex: String { Self.padded(high) + Self.padded(low) }

    /// The FNV-1a 128 hash of `bytes` as 32 hex digits.
    package static func hex(of bytes: some Sequence<UInt8>) -> String { StableHash128().combining(bytes).hex }

    private mutating func step(_ byte: UInt8) {
        low ^= UInt64(byte)
        // state × (2⁸⁸ + 0x13B) mod 2¹²⁸
        let (carry, product) = low.multipliedFullWidth(by: 0x13B)
        high = high &* 0x13B &+ carry &+ (low << 24)
        low = product
    }

    private static func padded(_ word: UInt64) -> String {
        let digits = String(word, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// FNV-1a 64, for ids already written in that form (a timer's event id is `ev_timer_` and the hash of
/// its idempotency key in unpadded hex); new ids take ``StableHash128``.
package struct StableHash64: Sendable {
    private var state: UInt64 = 14_695_981_039_346_656_037

    /// A hash of nothing yet.
    package init() {}

    /// Mixes in raw bytes.
    package mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt64(byte)
            state &*= 1_099_511_628_211
        }
    }

    /// This hash with `bytes` mixed in.
    package func combining(_ bytes: some Sequence<UInt8>) -> Self {
        var copy = self
        copy.combine(bytes: bytes)
        return copy
    }

    /// The hash value.
    package var value: UInt64 { state }

    /// The FNV-1a 64 hash of `bytes`.
    package static func value(of bytes: some Sequence<UInt8>) -> UInt64 { StableHash64().combining(bytes).value }
}
