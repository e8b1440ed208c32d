import ArgumentParser

// MARK: - Peer addresses

/// A service another process calls, named once for its address flag: `rules` is `--rules-address` and
/// `RULES_ADDRESS`, `rules-service` in help and in the certificate it must present.
package protocol PeerService: Sendable {
    static var key: String { get }
    /// Its port on one machine, the default address being `127.0.0.1:<port>`.
    static var defaultPort: Int { get }
}

package enum IngestPeer: PeerService {
    package static let key = "ingest"
    package static let defaultPort = 7101
}

package enum RulesPeer: PeerService {
    package static let key = "rules"
    package static let defaultPort = 7102
}

package enum SequencePeer: PeerService {
    package static let key = "sequence"
    package static let defaultPort = 7103
}

/// The address of one peer service: `--<key>-address` or `<KEY>_ADDRESS`, the flag winning. The gateway
/// and ingest-service declare their peers with it, so each flag is spelled once.
package struct PeerOption<Peer: PeerService>: ParsableArguments, Sendable {
    @Option(name: .customLong("\(Peer.key)-address"), help: "\(Peer.key)-service host:port (env \(Peer.key.uppercased())_ADDRESS).")
    package var address: String = Env.string("\(Peer.key.uppercased())_ADDRESS") ?? "127.0.0.1:\(Peer.defaultPort)"

    package init() {}

    /// The parsed address; a malformed one stops startup naming the flag.
    package func resolved() throws -> PeerAddress {
        try PeerAddress(parsing: address, key: "--\(Peer.key)-address")
    }
}
