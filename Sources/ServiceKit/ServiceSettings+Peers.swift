import Logging
import Wire

// MARK: - What a service process builds from its settings

extension PeerAddress {
    /// A connection to the peer at this address, secured by `security`; `serverName` is the service name
    /// the peer's certificate must carry.
    package func connection(security: RPCSecurity, serverName: String, logger: Logger) -> RPCConnection {
        RPCConnection(host: host, port: port, security: security, serverName: serverName, logger: logger)
    }
}

extension ServiceSettings {
    /// A connection to the peer service at `address`, secured like this process's own listener;
    /// `serverName` is the service name the peer's certificate must carry.
    package func connection(to address: PeerAddress, serverName: String, logger: Logger) -> RPCConnection {
        address.connection(security: security, serverName: serverName, logger: logger)
    }

    /// The secret box of `service`: the key from `SECRETS_KEY` (`environmentValue`) when set, else the key
    /// in `keyFile`, by default `<data-dir>/../keys/<service>.key` (see ``SecretBox/load(environmentValue:keyFile:legacyKeyFile:logger:)``).
    package func secretBox(service: String, environmentValue: String?, keyFile: String?, legacyKeyFile: String? = nil,
                           logger: Logger) throws -> SecretBox {
        try SecretBox.load(
            environmentValue: environmentValue,
            keyFile: keyFile ?? SecretBox.defaultKeyFile(dataDir: dataDir, service: service),
            legacyKeyFile: legacyKeyFile, logger: logger)
    }
}
