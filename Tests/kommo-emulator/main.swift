import ArgumentParser
import Basics
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TestSupport

/// The Kommo emulator of the tests as a process of its own, for the browser tests and for trying the
/// system by hand: the same account, checks and answers as `KommoEmulator`, on loopback.
///
/// Besides Kommo's routes it answers, without authentication, what it received:
/// `GET /_emulator/requests` (every request, in order), `GET /_emulator/tasks` (the tasks created),
/// `GET /_emulator/violations` (every departure from the documented API), and takes leads and contacts
/// for `GET /api/v4/leads/{id}` with `POST /_emulator/leads` / `POST /_emulator/contacts`; and
/// `POST /_emulator/stall` `{"ms": 4000, "times": 1}` makes the next requests answer late, and
/// `GET /_emulator/webhooks` lists the webhook subscriptions the account holds.
///
/// With `--oauth-client-id`, `--oauth-client-secret` and `--oauth-redirect-uri` it is also the consent page
/// of that integration (`GET /oauth`, which redirects back at once with a code naming this emulator as the
/// account host) and exchanges the code; the `--token` stays accepted besides the tokens OAuth issues.
@main
struct KommoEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kommo-emulator",
        abstract: "A Kommo account on loopback for tests: Kommo's REST routes plus /_emulator/* to read what it received.")

    @Option(name: .customLong("host"), help: "Address to bind (default 127.0.0.1).")
    var host = "127.0.0.1"

    @Option(name: .customLong("port"), help: "Port to bind; 0 picks a free one (default 0). The port is printed on standard output.")
    var port = 0

    @Option(name: .customLong("token"), help: "The access token the account accepts (default: test-token).")
    var token = "test-token"

    @Option(name: .customLong("channel-secret"), help: "The Chats API channel secret (default: channel-secret).")
    var channelSecret = "channel-secret"

    @Option(name: .customLong("oauth-client-id"), help: "The OAuth integration's id the consent page knows (default: none, no consent page).")
    var oauthClientID: String?

    @Option(name: .customLong("oauth-client-secret"), help: "That integration's secret, checked when a code is exchanged.")
    var oauthClientSecret: String?

    @Option(name: .customLong("oauth-redirect-uri"), help: "Where the consent page sends the user back (the gateway's /oauth/kommo/callback).")
    var oauthRedirectURI: String?

    func run() async throws {
        let emulator = KommoEmulator(token: token, channelSecret: channelSecret)
        emulator.keepAccepting(token)
        if let oauthClientID, let oauthClientSecret, let oauthRedirectURI {
            emulator.oauthServer.register(.init(id: oauthClientID, secret: oauthClientSecret, redirectURI: oauthRedirectURI))
        } else if oauthClientID != nil || oauthClientSecret != nil || oauthRedirectURI != nil {
            throw ValidationError("--oauth-client-id, --oauth-client-secret and --oauth-redirect-uri go together")
        }
        let control = EmulatorControl(emulator: emulator)
        var logger = Logger(label: "kommo-emulator")
        logger.logLevel = .warning
        let app = Application(
            responder: CallbackResponder(callback: control.handle),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "kommo-emulator"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                // The consent redirect names this emulator as the account's host (Kommo's `referer`).
                emulator.oauthServer.serve(host: "\(host):\(port)")
                // One line the starter waits for: where the emulator listens.
                let line = "kommo-emulator listening on http://\(host):\(port)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The `/_emulator/*` routes in front of the emulator.
struct EmulatorControl: Sendable {
    let emulator: KommoEmulator

    @Sendable func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/_emulator/") else { return try await emulator.handle(request, context) }
        switch (request.method, path) {
        case (.get, "/_emulator/requests"):
            let list: [JSONValue] = emulator.received.map(Self.describe)
            return Reply.json(200, .object(["requests": .array(list)]))
        case (.get, "/_emulator/tasks"):
            // Every task body the account accepted, in order (a repeated request_id is listed once).
            var seen: Set<String> = []
            var tasks: [JSONValue] = []
            for received in emulator.received where received.method == "POST" && received.path == "/api/v4/tasks" {
                for task in received.json?.array ?? [] {
                    if let requestID = task["request_id"]?.string {
                        guard seen.insert(requestID).inserted else { continue }
                    }
                    tasks.append(task)
                }
            }
            return Reply.json(200, .object(["tasks": .array(tasks), "created": .int(Int64(emulator.tasksCreated))]))
        case (.post, "/_emulator/stall"):
            // {"ms": 4000, "times": 1}: the next requests wait that long before their normal answer.
            let body = try await request.body.collect(upTo: 1 << 16)
            let json = JSONValue(parsing: Array(body.readableBytesView))
            guard let ms = json?["ms"]?.int64, (0...60_000).contains(ms) else {
                return Reply.json(400, #"{"detail":"ms between 0 and 60000 is expected"}"#)
            }
            let times = Int(json?["times"]?.int64 ?? 1)
            emulator.enqueue(.stall(.milliseconds(ms)), times: max(1, min(times, 100)))
            return Reply.empty(204)
        case (.get, "/_emulator/webhooks"):
            let list: [JSONValue] = emulator.oauthServer.webhooks.map {
                .object(["destination": .string($0.destination), "settings": .array($0.settings.map(JSONValue.string))])
            }
            return Reply.json(200, .object(["webhooks": .array(list)]))
        case (.get, "/_emulator/violations"):
            return Reply.json(200, .object(["violations": .array(emulator.violations.map { .string($0) })]))
        case (.post, "/_emulator/leads"), (.post, "/_emulator/contacts"):
            let body = try await request.body.collect(upTo: 1 << 20)
            guard let json = JSONValue(parsing: Array(body.readableBytesView)), json["id"]?.int64 != nil else {
                return Reply.json(400, #"{"detail":"a JSON object with an integer id is expected"}"#)
            }
            if path.hasSuffix("leads") { emulator.addLead(json) } else { emulator.addContact(json) }
            return Reply.empty(204)
        default:
            return Reply.json(404, #"{"detail":"no such emulator route"}"#)
        }
    }

    static func describe(_ received: ReceivedRequest) -> JSONValue {
        var object: [String: JSONValue] = [
            "method": .string(received.method),
            "path": .string(received.path),
            "query": received.query.map { .string($0) } ?? .null,
        ]
        object["json"] = received.json ?? .null
        return .object(object)
    }
}
