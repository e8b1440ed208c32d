import Basics
import Foundation
import Hummingbird
import Wire

/// Body of a manual enroll: the lead, as a number or a numeric string.
struct EnrollBody: RequestBody {
    static let fields: Set<String> = ["lead_id"]
    var leadId: Int64

    enum CodingKeys: String, CodingKey { case leadId = "lead_id" }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // `lead_id` as a number or a string of digits, tried in turn; anything else is answered 400 below.
        if let number = try? container.decode(Int64.self, forKey: .leadId) {
            leadId = number
        } else if let text = try? container.decode(String.self, forKey: .leadId), let number = Int64(text) {
            leadId = number
        } else {
            throw Problem.field("lead_id", "is required: a Kommo lead id")
        }
        guard leadId > 0 else { throw Problem.field("lead_id", "must be a positive integer") }
    }
}

extension GatewayApp {
    /// Enrollments of a sequence (owned by sequence-service): list, manual enroll, and pause / resume /
    /// cancel of one enrollment. The sequence CRUD itself is in ``addResourceRoutes(to:peers:store:)``.
    static func addSequenceRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        let collection = "/agents/{id}/sequences/{sequenceId}/enrollments"
        api.get(RouterPath(collection)) { request, context -> Response in
            let query = QueryReader(request)
            var list = PB.DocumentQuery()
            list.parentId = try context.parameters.require("sequenceId")
            list.limit = try query.limit()
            list.cursor = try query.string("cursor", maxLength: 128)
            list.filters = [PB.KeyValue(key: "agent_id", value: try context.parameters.require("id"))]
            let state = try query.string("state", maxLength: 32)
            if !state.isEmpty { list.filters.append(PB.KeyValue(key: "state", value: state)) }
            if let lead = try query.int("lead_id", range: 1...Int64.max) { list.filters.append(PB.KeyValue(key: "lead_id", value: String(lead))) }
            let page = try await peers.sequences.listEnrollments(list, options: peers.options(context))
            return try jsonResponse(ListDTO(items: page.items.map { JSONValue(parsing: $0.json) ?? .null },
                                            cursor: page.nextCursor))
        }
        api.post(RouterPath(collection)) { request, context -> Response in
            let body = try await request.decodeBody(EnrollBody.self, context: context, limit: 4096)
            var command = PB.EnrollmentCommand()
            command.agentId = try context.parameters.require("id")
            command.sequenceId = try context.parameters.require("sequenceId")
            command.leadId = body.leadId
            command.command = .enroll
            let document = try await peers.sequences.commandEnrollment(command, options: peers.options(context))
            return try documentResponse(document, status: .created)
        }
        for (verb, kind) in [("pause", PB.EnrollmentCommandKind.pause), ("resume", .resume), ("cancel", .cancel)] {
            api.post(RouterPath(collection + "/{enrollmentId}/" + verb)) { request, context -> Response in
                var command = PB.EnrollmentCommand()
                command.agentId = try context.parameters.require("id")
                command.sequenceId = try context.parameters.require("sequenceId")
                command.enrollmentId = try context.parameters.require("enrollmentId")
                command.command = kind
                command.reason = try await reason(request, context: context)
                let document = try await peers.sequences.commandEnrollment(command, options: peers.options(context))
                return try documentResponse(document)
            }
        }
    }

    /// The optional `{"reason": "…"}` of a command; an empty body is fine.
    private static func reason(_ request: Request, context: GatewayContext) async throws -> String {
        let buffer = try await request.body.collect(upTo: 4096)
        guard buffer.readableBytes > 0 else { return "" }
        try request.requireJSONMediaType()
        // A body that does not parse is the client's error: it is answered 400, not dropped.
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw Problem.field("body", "must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { $0 != "reason" }) { throw Problem.field(unknown, "is not a field of this command") }
        guard let reason = object["reason"] else { return "" }
        guard let text = reason as? String, text.count <= 500 else { throw Problem.field("reason", "must be a string of at most 500 characters") }
        return text
    }
}
