import ArgumentParser
import Foundation
import Logging
import Wire

/// How a process secures its RPC: mutual TLS with the operator's files, or with a local CA made on first
/// start, or (development only) plaintext. Every process (the three services and the gateway) has these.
package struct RPCSecurityOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("tls-ca"), help: "PEM of the CA whose certificates RPC peers must present (env TLS_CA).")
    package var caFile: String? = Env.string("TLS_CA")

    @Option(name: .customLong("tls-cert"), help: "PEM certificate of this process; its DNS SAN is its service name (env TLS_CERT).")
    package var certificateFile: String? = Env.string("TLS_CERT")

    @Option(name: .customLong("tls-key"), help: "PEM private key of this process (env TLS_KEY).")
    package var keyFile: String? = Env.string("TLS_KEY")

    @Option(name: .customLong("pki-dir"), help: "Where the local CA and certificates are made when no TLS files are given (env PKI_DIR).")
    package var pkiDir: String = Env.string("PKI_DIR") ?? ".data/pki"

    @Flag(name: .customLong("insecure-plaintext-rpc"),
          help: "UNSAFE, development only: RPC without TLS and without caller identity (env RPC_INSECURE_PLAINTEXT=1).")
    package var insecurePlaintext: Bool = false

    package init() {}

    package func validate() throws {
        let given = [caFile, certificateFile, keyFile].compactMap { $0 }
        guard given.isEmpty || given.count == 3 else {
            throw ValidationError("--tls-ca, --tls-cert and --tls-key go together: give all three or none")
        }
    }

    /// Loads (or, with no files given, makes under `pkiDir`) this process's credentials.
    package func security(identity: String, logger: Logger,
                          environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RPCSecurity {
        if try insecurePlaintext || Env.flag("RPC_INSECURE_PLAINTEXT", in: environment) ?? false {
            logger.warning("rpc.insecure_plaintext", metadata: [
                "detail": "RPC runs without TLS: any process that reaches a port can call anything as any tenant; never use this outside development"])
            return .plaintext
        }
        if let caFile, let certificateFile, let keyFile {
            return .mutualTLS(try RPCCredentials(caFile: caFile, certificateFile: certificateFile, keyFile: keyFile))
        }
        try LocalPKI.ensure(directory: pkiDir, logger: logger)
        return .mutualTLS(try RPCCredentials(caFile: "\(pkiDir)/ca.pem", certificateFile: "\(pkiDir)/\(identity).pem",
                                             keyFile: "\(pkiDir)/\(identity).key"))
    }
}
