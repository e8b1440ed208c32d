import Ingest
import Logging
import ServiceKit
import Testing

/// Settings come from flags, then environment variables, then defaults; a variable that is set but does
/// not read as its setting's type stops startup with a message naming it.
@Suite("Configuration from the environment")
struct ConfigurationTests {
    @Test("RETENTION_DAYS=abc stops startup with a message naming the variable and the form it expects")
    func malformedRetentionDays() throws {
        let options = try IngestOptions.parse([])
        #expect(throws: ConfigurationError("RETENTION_DAYS: expected a whole number, got 'abc'")) {
            _ = try options.configuration(environment: ["RETENTION_DAYS": "abc"])
        }
    }

    @Test("an unset variable falls back to the default; a set one is used; a flag wins over both")
    func fallbackAndPrecedence() throws {
        #expect(try IngestOptions.parse([]).configuration(environment: [:]).retentionDays == 30)
        #expect(try IngestOptions.parse([]).configuration(environment: ["RETENTION_DAYS": ""]).retentionDays == 30)
        #expect(try IngestOptions.parse([]).configuration(environment: ["RETENTION_DAYS": "7"]).retentionDays == 7)
        #expect(try IngestOptions.parse(["--retention-days", "9"]).configuration(environment: ["RETENTION_DAYS": "abc"]).retentionDays == 9)
    }

    @Test("a malformed shared service setting stops startup before anything is bound")
    func malformedServiceSetting() throws {
        let options = try ServiceOptions.parse(["--insecure-plaintext-rpc"])
        let logger = Logger(label: "test")
        #expect(throws: ConfigurationError("MAX_FRAME_BYTES: expected a whole number, got '4MB'")) {
            _ = try options.settings(identity: "ingest-service", defaultPort: 7101, defaultDataDir: ".data/ingest", logger: logger,
                                     environment: ["MAX_FRAME_BYTES": "4MB"])
        }
        #expect(throws: ConfigurationError("RPC_INSECURE_PLAINTEXT: expected 1, true, yes, on, 0, false, no or off, got 'maybe'")) {
            _ = try ServiceOptions.parse([]).settings(identity: "ingest-service", defaultPort: 7101, defaultDataDir: ".data/ingest",
                                                      logger: logger, environment: ["RPC_INSECURE_PLAINTEXT": "maybe"])
        }
        let settings = try options.settings(identity: "ingest-service", defaultPort: 7101, defaultDataDir: ".data/ingest", logger: logger,
                                            environment: ["MAX_FRAME_BYTES": "65536"])
        #expect(settings.maxFrameBytes == 65536)
        #expect(settings.rpcPort == 7101)
    }
}
