import Crypto
import Foundation
import Logging

/// Encrypts secrets at rest with AES-256-GCM: the tenants' write-only integration values (Kommo tokens,
/// channel secrets, webhook secrets, LLM keys) and the copies of webhook source secrets.
///
/// A sealed value is one version byte followed by AES-GCM's combined form (nonce, ciphertext, tag). The
/// tenant id is bound in as associated data, so a sealed blob copied onto another tenant's row does not
/// open: a database-level mix-up fails loudly instead of handing one tenant another's token.
package struct SecretBox: Sendable {
    /// The format byte of sealed values; a key rotation would add another.
    static let formatVersion: UInt8 = 1

    /// The key's bytes: `SymmetricKey` is not `Sendable`, so the box keeps the bytes and makes the key
    /// where it is used.
    private let keyBytes: [UInt8]

    /// A box using `key` (32 bytes).
    package init(key: SymmetricKey) {
        self.keyBytes = key.withUnsafeBytes { Array($0) }
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// The default key file of a service: `<data root>/keys/<service>.key`, beside the service's data
    /// folder rather than in it, so a copy of the store's volume does not carry the key that opens it.
    package static func defaultKeyFile(dataDir: String, service: String) -> String {
        let root = URL(fileURLWithPath: dataDir).standardizedFileURL.deletingLastPathComponent()
        return root.appendingPathComponent("keys").appendingPathComponent("\(service).key").path
    }

    /// The box for a process: the key from `SECRETS_KEY` (base64 of 32 bytes) when set, else the key
    /// stored in `keyFile`, generated there (mode 0600, folder 0700) on first start. A key left by an
    /// earlier version at `legacyKeyFile` (inside the data folder) is moved to `keyFile` first, so the
    /// secrets it sealed still open.
    ///
    /// - Throws: `ConfigurationError` naming `SECRETS_KEY` when it is set but not 32 bytes of base64, or
    ///   naming the key file when it cannot be read or written.
    package static func load(environmentValue: String?, keyFile path: String, legacyKeyFile: String? = nil,
                             logger: Logger) throws -> SecretBox {
        if let environmentValue {
            guard let data = Data(base64Encoded: environmentValue.trimmingCharacters(in: .whitespacesAndNewlines)),
                  data.count == 32
            else { throw ConfigurationError("SECRETS_KEY must be the base64 encoding of 32 random bytes") }
            return SecretBox(key: SymmetricKey(data: data))
        }
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        if let legacyKeyFile, FileManager.default.fileExists(atPath: legacyKeyFile), !FileManager.default.fileExists(atPath: path) {
            guard rename(legacyKeyFile, path) == 0 else {
                throw ConfigurationError("cannot move \(legacyKeyFile) to \(path) (errno \(errno))")
            }
            chmod(path, 0o600)
            logger.notice("secrets.key_moved", metadata: ["secrets.key_file": "\(path)", "secrets.legacy_file": "\(legacyKeyFile)"])
        }
        if FileManager.default.fileExists(atPath: path) {
            // A key file that cannot be read stops startup: a new key would make every sealed secret unreadable.
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
                throw ConfigurationError("\(path) does not hold a base64 32-byte key; restore it or set SECRETS_KEY")
            }
            return SecretBox(key: SymmetricKey(data: data))
        }
        let key = SymmetricKey(size: .bits256)
        let encoded = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        // O_EXCL with the mode given at creation: the key is never readable by others, not even briefly,
        // and two processes starting at once cannot both write a key.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw ConfigurationError("cannot create \(path) (errno \(errno)); set SECRETS_KEY instead")
        }
        let bytes = Array(encoded.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fsync(descriptor)
        close(descriptor)
        guard written == bytes.count else { throw ConfigurationError("cannot write \(path); set SECRETS_KEY instead") }
        logger.warning("secrets.key_generated", metadata: [
            "secrets.key_file": "\(path)",
            "hint": "set SECRETS_KEY in production; losing this file makes stored secrets unreadable",
        ])
        return SecretBox(key: key)
    }

    /// Seals `plaintext` for `context` (the tenant id).
    package func seal(_ plaintext: [UInt8], context: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
        guard let combined = box.combined else { throw SecretBoxError.sealFailed }
        return [Self.formatVersion] + Array(combined)
    }

    /// Opens what ``seal(_:context:)`` produced for the same `context`.
    ///
    /// - Throws: ``SecretBoxError`` when the format is unknown, or the key or context do not match.
    package func unseal(_ sealed: [UInt8], context: String) throws -> [UInt8] {
        guard sealed.first == Self.formatVersion else { throw SecretBoxError.unknownFormat }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.dropFirst())
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
        } catch {
            throw SecretBoxError.cannotOpen
        }
    }
}

/// Why a sealed value could not be used.
package enum SecretBoxError: Error, CustomStringConvertible {
    /// Encryption produced no combined form (never expected with the default nonce size).
    case sealFailed
    /// The first byte is not a known format.
    case unknownFormat
    /// Wrong key, wrong tenant, or damaged data.
    case cannotOpen

    package var description: String {
        switch self {
        case .sealFailed: "could not seal the value"
        case .unknownFormat: "sealed value has an unknown format"
        case .cannotOpen: "sealed value does not open with this key (was SECRETS_KEY changed?)"
        }
    }
}
