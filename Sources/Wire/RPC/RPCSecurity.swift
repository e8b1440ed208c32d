import Foundation
import NIOCore
import NIOSSL

/// One process's credentials for mutual TLS: the deployment CA it trusts, its own certificate and key,
/// and the identity (service name) its certificate carries. Built once per process; the TLS contexts
/// are shared by every listener and connection.
package final class RPCCredentials: Sendable {
    /// The service name in this process's certificate (its first DNS subject alternative name).
    package let identity: String
    let serverContext: NIOSSLContext
    let clientContext: NIOSSLContext
    let namedClientContext: NIOSSLContext

    /// Loads PEM files. Fails with a message naming the file when one is missing or unreadable.
    package convenience init(caFile: String, certificateFile: String, keyFile: String) throws {
        for path in [caFile, certificateFile, keyFile] where !FileManager.default.isReadableFile(atPath: path) {
            throw RPCError(.failedPrecondition, "TLS file \(path) is missing or unreadable")
        }
        let ca = try NIOSSLCertificate.fromPEMFile(caFile)
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        try self.init(ca: ca, chain: chain, key: key)
    }

    package init(ca: [NIOSSLCertificate], chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) throws {
        guard let leaf = chain.first, let name = Self.identity(of: leaf) else {
            throw RPCError(.failedPrecondition, "the TLS certificate names no service (no DNS subject alternative name)")
        }
        identity = name
        let sources = chain.map(NIOSSLCertificateSource.certificate)
        // TLS 1.3 only: every peer is ours, so there is no older client to accommodate.
        var server = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: sources, privateKey: .privateKey(key), trustRoots: .certificates(ca))
        server.minimumTLSVersion = .tlsv13
        server.certificateVerification = .noHostnameVerification
        serverContext = try NIOSSLContext(configuration: server)

        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = .tlsv13
        client.trustRoots = .certificates(ca)
        client.certificateChain = sources
        client.privateKey = .privateKey(key)
        // With a service name the server's certificate must carry it (checked against the name given as
        // the TLS server name, not the dialled address, so 127.0.0.1:7102 and ingest:7101 both work).
        client.certificateVerification = .fullVerification
        namedClientContext = try NIOSSLContext(configuration: client)
        client.certificateVerification = .noHostnameVerification
        clientContext = try NIOSSLContext(configuration: client)
    }

    /// The identity a certificate carries: its first DNS subject alternative name.
    package static func identity(of certificate: NIOSSLCertificate) -> String? {
        names(of: certificate).first
    }

    /// Every DNS subject alternative name of a certificate, in order. Certificates of a deployment carry
    /// one; a test client may stand for several services.
    package static func names(of certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().filter { $0.nameType == .dnsName }.map { name in
            name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
        }
    }
}

/// How an RPC listener or connection protects its traffic.
package enum RPCSecurity: Sendable {
    /// Mutual TLS 1.3: both sides present certificates from the deployment CA.
    case mutualTLS(RPCCredentials)
    /// No TLS and no caller identity: development only, behind an explicit flag.
    case plaintext

    package var credentials: RPCCredentials? {
        if case .mutualTLS(let credentials) = self { return credentials }
        return nil
    }
}

/// Which caller identity may call which method, and which identities may name a tenant in metadata.
/// Fail closed: a method absent from `callers` is denied to everyone.
package struct RPCAccessPolicy: Sendable {
    /// Method path → identities allowed; `*` allows any identity holding a certificate from the CA.
    package var callers: [String: Set<String>]
    /// Identities whose `metadata.tenant_id` is believed; from anyone else a tenant id is refused.
    package var tenantActors: Set<String>

    package init(callers: [String: Set<String>], tenantActors: Set<String>) {
        self.callers = callers
        self.tenantActors = tenantActors
    }

    /// The table generated from the `callers:` lines in proto/*.proto; the four services act for tenants.
    package static let generated = RPCAccessPolicy(
        callers: PB.accessTable, tenantActors: ["gateway", "ingest-service", "rules-service", "sequence-service"])

    /// Nil when the caller may make this call; otherwise why not.
    package func refusal(method: String, caller: [String], tenantID: String) -> RPCError? {
        let who = caller.first ?? "an unnamed peer"
        guard let allowed = callers[method], !caller.isEmpty, allowed.contains("*") || caller.contains(where: allowed.contains) else {
            return RPCError(.permissionDenied, "\(who) may not call \(method)")
        }
        if !tenantID.isEmpty && !caller.contains(where: tenantActors.contains) {
            return RPCError(.permissionDenied, "\(who) may not act for a tenant")
        }
        return nil
    }
}
