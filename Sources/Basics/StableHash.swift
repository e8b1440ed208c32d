// MARK: - Stable 128-bit hash

/// FNV-1a with 128-bit state: a stable, platform-independent hash for deriving event ids.
///
/// Event ids must be the same across processes, restarts and machines, which rules out Swift's
/// `Hasher` (randomly seeded per process); SHA-256 (`SHA256.hex(of:)`) is the choice
/// where someone could gain from a collision, and costs more per key. FNV-1a 128
/// is small, specified (draft-eastlake-fnv) and spreads short keys well enough for ids. It is not a
/// cryptographic hash: someone able to post to a tenant's webhook URL could in principle craft a
/// colliding key, but that sender can already inject any event it likes, so nothing is lost.
package struct StableHash128: Sendable {
    // Offset basis and prime from the FNV specification.
    private static let offsetBasis: UInt128 = 0x6C62_272E_07BB_0142_62B8_2175_6295_C58D
    private static let prime: UInt128 = 0x0000_0000_0100_0000_0000_0000_0000_013B

    private var state: UInt128 = StableHash128.offsetBasis

    /// A hash of nothing yet.
    package init() {}

    /// Mixes in raw bytes.
    package mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt128(byte)
            state &*= StableHash128.prime
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
    package var value: UInt128 { state }

    /// The hash as 32 lowercase hex digits.
    package var hex: String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: 32 - digits.count) + digits
    }

    /// The FNV-1a 128 hash of `bytes` as 32 hex digits.
    package static func hex(of bytes: some Sequence<UInt8>) -> String {
        var hash = StableHash128()
        hash.combine(bytes: bytes)
        return hash.hex
    }
}

// MARK: - Stable 64-bit hash

/// FNV-1a with 64-bit state, for ids already written in that form (a timer's event id is
/// `ev_timer_` and the hash of its idempotency key in unpadded hex); new ids take ``StableHash128``.
package struct StableHash64: Sendable {
    // Offset basis and prime from the FNV specification.
    private static let offsetBasis: UInt64 = 14_695_981_039_346_656_037
    private static let prime: UInt64 = 1_099_511_628_211

    private var state: UInt64 = StableHash64.offsetBasis

    /// A hash of nothing yet.
    package init() {}

    /// Mixes in raw bytes.
    package mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt64(byte)
            state &*= StableHash64.prime
        }
    }

    /// The hash value.
    package var value: UInt64 { state }

    /// The FNV-1a 64 hash of `bytes`.
    package static func value(of bytes: some Sequence<UInt8>) -> UInt64 {
        var hash = StableHash64()
        hash.combine(bytes: bytes)
        return hash.value
    }
}
