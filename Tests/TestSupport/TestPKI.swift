import Foundation
import ServiceKit
import Synchronization
import Wire

/// The test process's certificate authority: made once (with `openssl`, like a first start) and shared by
/// every test, so the whole suite talks mutual TLS. `stranger` is a certificate from this CA whose name is
/// in no access table; `other` is a second CA nobody trusts.
package enum TestPKI {
    /// Identities with certificates from the test CA. `harness` is the test suites' own client of one
    /// service, standing for every caller the real system has (gateway, ingest-service, sequence-service).
    package static let identities = LocalPKI.services + ["stranger", "harness"]

    package static let folder: String = make("pki")
    package static let otherFolder: String = make("other-pki")

    private static func make(_ name: String) -> String {
        let folder = temporaryFolder(name)
        do {
            try LocalPKI.create(directory: folder, identities: identities,
                                alsoNamed: ["harness": ["gateway", "ingest-service", "sequence-service"]])
        } catch {
            fatalError("test PKI: \(error)")
        }
        return folder
    }

    private static let cache = Mutex<[String: RPCCredentials]>([:])

    /// Mutual TLS as `identity` with the test CA (or, with `foreign`, with the CA nobody trusts).
    package static func security(_ identity: String, foreign: Bool = false) -> RPCSecurity {
        let key = (foreign ? "other/" : "") + identity
        if let cached = cache.withLock({ $0[key] }) { return .mutualTLS(cached) }
        let base = foreign ? otherFolder : folder
        do {
            let credentials = try RPCCredentials(caFile: "\(base)/ca.pem", certificateFile: "\(base)/\(identity).pem",
                                                 keyFile: "\(base)/\(identity).key")
            cache.withLock { $0[key] = credentials }
            return .mutualTLS(credentials)
        } catch {
            fatalError("test PKI \(identity): \(error)")
        }
    }
}
