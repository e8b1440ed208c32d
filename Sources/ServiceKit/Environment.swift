import Foundation

/// Reads configuration from the environment, so that every setting has one key in two spellings:
/// a flag (`--rpc-port`) and an environment variable (`RPC_PORT`). Flags win over the environment.
package enum Env {
    /// The environment variable, or nil when unset or empty.
    package static func string(_ key: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[key], !value.isEmpty else { return nil }
        return value
    }

    package static func int(_ key: String) -> Int? { string(key).flatMap(Int.init) }
}

/// A configuration problem found at startup; the process stops with this message.
package struct ConfigurationError: Error, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// A `host:port` address of a peer service.
package struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; `key` names the setting in the error.
    package init(parsing text: String, key: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port), colon > text.startIndex
        else { throw ConfigurationError("\(key): expected host:port, got '\(text)'") }
        self.host = String(text[..<colon])
        self.port = port
    }

    package var description: String { "\(host):\(port)" }
}
