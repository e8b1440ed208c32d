import Basics
import Crypto
import Foundation
import Testing

@Suite("Ids and hashes")
struct IdentifierTests {
    @Test("a random id is its prefix and the number of lowercase hex digits asked for, never the same twice")
    func randomIDs() {
        let ids = (0..<1_000).map { _ in RandomID.make("enr_") }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            #expect(id.hasPrefix("enr_") && id.count == 24)
            #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
        }
        #expect(RandomID.make("dlv_", hexDigits: 24).count == 28)
        #expect(RandomID.make("x_", hexDigits: 0) == "x_")
        var fixed = FixedRandom(values: [0x0123_4567_89ab_cdef])
        #expect(RandomID.make("t_", hexDigits: 18, using: &fixed) == "t_fedcba9876543210fe")
    }

    @Test("SHA-256 hex matches the published test vectors")
    func sha256() {
        #expect(SHA256.hex(of: "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: Data("abc".utf8)) == SHA256.hex(of: "abc"))
        #expect(Hex.string([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }

    @Test("FNV-1a 64 matches the specification's vectors, so stored timer event ids keep their value")
    func fnv64() {
        #expect(StableHash64.value(of: Array("".utf8)) == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash64.value(of: Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash64.value(of: Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    }
}
