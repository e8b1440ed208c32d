import Basics
import Foundation
import Logging
import Wire

/// A local certificate authority and one certificate per service, made with the `openssl` command so that
/// `make run` needs no operator step. Layout of the folder:
///
///     ca.pem               the CA certificate every process trusts
///     ca-key/ca.key        the CA key (0600, in its own 0700 folder; compose keeps it in another volume)
///     NAME.pem, NAME.key   each service's certificate (DNS SAN = NAME, client and server use) and key (0600)
///
/// Safe when several processes start at once: one takes a lock folder and writes the files, the others
/// wait; a `complete` marker is written last, so a half-made folder is never used.
package enum LocalPKI {
    /// Every identity a deployment has.
    package static let services = ["gateway", "ingest-service", "rules-service", "sequence-service"]

    /// Makes the CA and the certificates of `identities` in `directory` unless they are already there.
    package static func ensure(directory: String, identities: [String] = services, logger: Logger? = nil) throws {
        let marker = "\(directory)/complete"
        if FileManager.default.fileExists(atPath: marker) { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let lock = "\(directory)/.lock"
        let started = Date()
        while mkdir(lock, 0o700) != 0 {
            // Another process is writing; a lock older than a minute belongs to a process that died.
            // A lock whose age cannot be read (it vanished meanwhile) is simply tried again.
            if let made = try? FileManager.default.attributesOfItem(atPath: lock)[.creationDate] as? Date,
               Date().timeIntervalSince(made) > 60 {
                rmdir(lock)
                continue
            }
            if Date().timeIntervalSince(started) > 60 { throw PKIError("timed out waiting for \(lock)") }
            usleep(50_000)
        }
        defer { rmdir(lock) }
        if FileManager.default.fileExists(atPath: marker) { return }
        logger?.notice("pki.created", metadata: ["pki.dir": "\(directory)",
                                                 "detail": "no --tls-ca/--tls-cert/--tls-key given: made a local CA for this machine"])
        try create(directory: directory, identities: identities)
        FileManager.default.createFile(atPath: marker, contents: Data())
    }

    /// Writes a fresh CA and certificates into `directory` (which must exist), replacing what is there.
    /// `alsoNamed` gives a certificate more DNS names (tests: one client that stands for several services).
    package static func create(directory: String, identities: [String], alsoNamed: [String: [String]] = [:]) throws {
        let keyDir = "\(directory)/ca-key"
        try FileManager.default.createDirectory(atPath: keyDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let caKey = "\(keyDir)/ca.key", caCert = "\(directory)/ca.pem"
        let staging = "\(directory)/.staging-\(getpid())"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // Best-effort cleanup of the staging folder; a leftover one is replaced by the next attempt.
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", "\(staging)/ca.key", "-out", "\(staging)/ca.pem", "-days", "3650",
                     "-subj", "/CN=kommo-agents local RPC CA",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        for name in identities {
            let ext = "\(staging)/\(name).ext"
            let names = ([name] + (alsoNamed[name] ?? [])).map { "DNS:\($0)" }.joined(separator: ",")
            try Data("subjectAltName=\(names)\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n".utf8)
                .write(to: URL(fileURLWithPath: ext))
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-keyout", "\(staging)/\(name).key", "-out", "\(staging)/\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(staging)/\(name).csr", "-CA", "\(staging)/ca.pem",
                         "-CAkey", "\(staging)/ca.key", "-set_serial", "0x\(randomSerial())", "-days", "825",
                         "-extfile", ext, "-out", "\(staging)/\(name).pem"])
        }
        for name in identities {
            try move("\(staging)/\(name).key", to: "\(directory)/\(name).key", mode: 0o600)
            try move("\(staging)/\(name).pem", to: "\(directory)/\(name).pem", mode: 0o644)
        }
        try move("\(staging)/ca.key", to: caKey, mode: 0o600)
        try move("\(staging)/ca.pem", to: caCert, mode: 0o644)
    }

    private static func move(_ from: String, to: String, mode: Int) throws {
        chmod(from, mode_t(mode))
        guard rename(from, to) == 0 else { throw PKIError("cannot move \(from) to \(to): errno \(errno)") }
    }

    private static func randomSerial() -> String {
        RandomID.make("", hexDigits: 32)
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw PKIError("cannot run openssl (install it: apt-get install openssl): \(error)") }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PKIError("openssl \(arguments.first ?? "") failed: \(String(decoding: output, as: UTF8.self))")
        }
    }
}

/// The local PKI could not be made.
package struct PKIError: Error, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}
