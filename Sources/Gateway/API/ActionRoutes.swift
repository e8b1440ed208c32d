import Basics
import Hummingbird
import Wire

extension GatewayApp {
    /// `POST /api/v1/actions/{actionId}/retry` and `…/dismiss`: what an operator decides for an action left
    /// `in_doubt` (a Salesbot run that answered 5xx or timed out, and may have messaged the client already).
    static func addActionRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        for (verb, kind) in [("retry", PB.ActionCommandKind.retry), ("dismiss", .dismiss)] {
            api.post("/actions/{actionId}/\(verb)") { _, context -> Response in
                var command = PB.ActionCommand()
                command.actionId = try kommoID(try context.parameters.require("actionId"), field: "actionId")
                command.command = kind
                let answer = try await peers.sequences.commandAction(command, options: try peers.options(context))
                let body: JSONValue = ["action_id": .string(String(answer.actionId)), "status": .string(answer.status)]
                return try jsonResponse(body)
            }
        }
    }
}
