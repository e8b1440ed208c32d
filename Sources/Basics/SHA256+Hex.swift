import Crypto
import Foundation

// MARK: - SHA-256 as hex

extension SHA256 {
    /// The SHA-256 digest of `bytes` as 64 lowercase hex digits: how stored secrets, request fingerprints
    /// and asset versions are spelled.
    package static func hex(of bytes: some DataProtocol) -> String {
        Hex.string(hash(data: bytes))
    }

    /// The SHA-256 digest of the UTF-8 of `text` as 64 lowercase hex digits.
    package static func hex(of text: String) -> String {
        hex(of: Data(text.utf8))
    }
}
