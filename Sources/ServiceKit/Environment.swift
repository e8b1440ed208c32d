import Foundation

/// Reads configuration from the environment, so that every setting has one key in two spellings:
/// a flag (`--rpc-port`) and an environment variable (`RPC_PORT`). Flags win over the environment.
///
/// An unset (or empty) variable falls back to the setting's default; one that is set but does not read
/// as the setting's type stops startup with a `ConfigurationError` naming the variable and the form it
/// expects, so a typo never runs the process with a default nobody asked for.
package enum Env {
    /// The environment variable, or nil when unset or empty.
    package static func string(_ key: String, in environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let value = environment[key], !value.isEmpty else { return nil }
        return value
    }

    /// The variable as a whole number; nil when unset, an error when set to anything else.
    package static func integer(
        _ key: String, in environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> Int? {
        guard let text = string(key, in: environment) else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError("\(key): expected a whole number, got '\(text)'")
        }
        return value
    }

    /// The variable as a switch (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`); nil when unset, an
    /// error when set to anything else.
    package static func flag(
        _ key: String, in environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> Bool? {
        guard let text = string(key, in: environment) else { return nil }
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError("\(key): expected 1, true, yes, on, 0, false, no or off, got '\(text)'")
        }
    }
}

/// A configuration problem found at startup; the process stops with this message.
package struct ConfigurationError: Error, Equatable, CustomStringConvertible {
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
