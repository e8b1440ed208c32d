import Basics
import Foundation
import Logging
import NIOHTTP1

// MARK: - Catalog

/// What a connected Kommo account names: pipelines and their stages, users, custom fields with their
/// enum values, tags per entity, and task types. Stored as the JSON of the REST contract
/// (`GET /api/v1/kommo/catalog` without `connected`, `account` and `refreshed_at`).
package struct KommoCatalog: Sendable, Hashable {
    /// The JSON members: `pipelines`, `users`, `custom_fields`, `tags`, `task_types`.
    package var json: JSONValue

    /// The catalog of an account that is not connected: every list empty.
    package static let empty = KommoCatalog(json: .object([
        "pipelines": .array([]), "users": .array([]),
        "custom_fields": .object(["leads": .array([]), "contacts": .array([]), "companies": .array([])]),
        "tags": .object(["leads": .array([]), "contacts": .array([]), "companies": .array([])]),
        "task_types": .array([]),
    ]))

    package init(json: JSONValue) {
        self.json = json
    }

    /// The parts of the catalog that `GET /api/v1/kommo/catalog/{kind}` serves.
    package static let kinds = ["pipelines", "users", "custom_fields", "tags", "task_types"]

    /// Entities that carry custom fields and tags.
    package static let entities = ["leads", "contacts", "companies"]

    /// How many of each part the catalog holds (the integrations page shows them).
    package var counts: JSONValue {
        func count(_ value: JSONValue?) -> Int64 { Int64(value?.array?.count ?? 0) }
        let stages = (json["pipelines"]?.array ?? []).reduce(Int64(0)) { $0 + count($1["stages"]) }
        let fields = Self.entities.reduce(Int64(0)) { $0 + count(json["custom_fields"]?[$1]) }
        let tags = Self.entities.reduce(Int64(0)) { $0 + count(json["tags"]?[$1]) }
        return .object(["pipelines": .int(count(json["pipelines"])), "stages": .int(stages), "users": .int(count(json["users"])),
                        "custom_fields": .int(fields), "tags": .int(tags), "task_types": .int(count(json["task_types"]))])
    }

    // MARK: From Kommo's answers

    /// A stage's kind: 142 won and 143 lost in every pipeline, Kommo's `type` 1 the unsorted stage.
    static func stageKind(id: Int64, type: Int64?) -> String {
        switch id {
        case 142: "won"
        case 143: "lost"
        default: type == 1 ? "unsorted" : "open"
        }
    }

    static func pipeline(_ json: JSONValue) -> JSONValue? {
        guard let id = json["id"]?.int64 else { return nil }
        var stages: [JSONValue] = (json["_embedded"]?["statuses"]?.array ?? []).compactMap { status in
            guard let stageID = status["id"]?.int64 else { return nil }
            return .object(["id": .int(stageID), "name": .string(status["name"]?.string ?? ""),
                            "sort": .int(status["sort"]?.int64 ?? 0), "color": status["color"]?.string.map(JSONValue.string) ?? .null,
                            "kind": .string(stageKind(id: stageID, type: status["type"]?.int64))])
        }
        // Won and lost exist in every pipeline, even when an answer leaves them out.
        for (closed, name, sort) in [(Int64(142), "Closed - won", Int64(10000)), (Int64(143), "Closed - lost", Int64(11000))]
        where !stages.contains(where: { $0["id"]?.int64 == closed }) {
            stages.append(.object(["id": .int(closed), "name": .string(name), "sort": .int(sort), "color": .null,
                                   "kind": .string(stageKind(id: closed, type: nil))]))
        }
        stages.sort { ($0["sort"]?.int64 ?? 0, $0["id"]?.int64 ?? 0) < ($1["sort"]?.int64 ?? 0, $1["id"]?.int64 ?? 0) }
        return .object(["id": .int(id), "name": .string(json["name"]?.string ?? ""), "is_main": .bool(json["is_main"]?.bool ?? false),
                        "sort": .int(json["sort"]?.int64 ?? 0), "stages": .array(stages)])
    }

    static func user(_ json: JSONValue) -> JSONValue? {
        guard let id = json["id"]?.int64 else { return nil }
        return .object(["id": .int(id), "name": .string(json["name"]?.string ?? ""),
                        "email": json["email"]?.string.map(JSONValue.string) ?? .null])
    }

    static func field(_ json: JSONValue) -> JSONValue? {
        guard let id = json["id"]?.int64 else { return nil }
        let enums: [JSONValue] = (json["enums"]?.array ?? []).compactMap { value in
            guard let enumID = value["id"]?.int64 else { return nil }
            return .object(["id": .int(enumID), "value": .string(value["value"]?.string ?? "")])
        }
        return .object(["id": .int(id), "name": .string(json["name"]?.string ?? ""), "type": .string(json["type"]?.string ?? ""),
                        "code": json["code"]?.string.map(JSONValue.string) ?? .null, "enums": .array(enums)])
    }

    static func named(_ json: JSONValue) -> JSONValue? {
        guard let id = json["id"]?.int64 else { return nil }
        return .object(["id": .int(id), "name": .string(json["name"]?.string ?? "")])
    }
}

// MARK: - Reading

/// Why a catalog could not be read.
package struct KommoCatalogError: Error, Sendable, CustomStringConvertible {
    package var description: String
}

extension KommoClient {
    /// The most pages one list is read to (250 items each).
    static let maxCatalogPages = 40

    /// Reads the account's catalog: every list paginated with `page` and `limit=250` while Kommo's answer
    /// has `_links.next`, through this client's limiter (each page one request of the account's budget).
    package func readCatalog(account: KommoConnection, logger: Logger) async throws(KommoCatalogError) -> KommoCatalog {
        let pipelines = try await list(account, path: "/api/v4/leads/pipelines", embedded: "pipelines", logger: logger)
            .compactMap(KommoCatalog.pipeline)
        let users = try await list(account, path: "/api/v4/users", embedded: "users", logger: logger).compactMap(KommoCatalog.user)
        var fields: [String: JSONValue] = [:]
        var tags: [String: JSONValue] = [:]
        for entity in KommoCatalog.entities {
            fields[entity] = .array(try await list(account, path: "/api/v4/\(entity)/custom_fields", embedded: "custom_fields",
                                                   logger: logger).compactMap(KommoCatalog.field))
            tags[entity] = .array(try await list(account, path: "/api/v4/\(entity)/tags", embedded: "tags", logger: logger)
                .compactMap(KommoCatalog.named))
        }
        let (result, response) = await call(operation: "kommo.catalog", account: account, method: .GET, path: "/api/v4/account",
                                            query: "with=task_types", body: NoBody?.none, summary: "task types", kind: .read,
                                            logger: logger)
        guard result.outcome == .succeeded else { throw KommoCatalogError(description: "task types: " + Self.reason(result)) }
        let taskTypes = (response?.json?["_embedded"]?["task_types"]?.array ?? []).compactMap(KommoCatalog.named)
        return KommoCatalog(json: .object([
            "pipelines": .array(pipelines), "users": .array(users), "custom_fields": .object(fields), "tags": .object(tags),
            "task_types": .array(taskTypes),
        ]))
    }

    private func list(_ account: KommoConnection, path: String, embedded: String, logger: Logger) async throws(KommoCatalogError) -> [JSONValue] {
        var items: [JSONValue] = []
        for page in 1...Self.maxCatalogPages {
            let (result, response) = await call(operation: "kommo.catalog", account: account, method: .GET, path: path,
                                                query: "page=\(page)&limit=250", body: NoBody?.none, summary: embedded,
                                                kind: .read, logger: logger)
            guard result.outcome == .succeeded, let response else {
                throw KommoCatalogError(description: "\(path): " + Self.reason(result))
            }
            // 204: nothing (more) to list.
            guard response.status != 204, let json = response.json else { return items }
            items += json["_embedded"]?[embedded]?.array ?? []
            if json["_links"]?["next"]?["href"]?.string == nil { return items }
        }
        logger.warning("kommo.catalog_truncated", metadata: ["http.target": "\(path)", "pages": "\(Self.maxCatalogPages)"])
        return items
    }

    static func reason(_ result: ExecutionResult) -> String {
        result.detail ?? result.problem?.summary ?? "Kommo answered \(result.httpStatus.map(String.init) ?? "nothing")"
    }

    /// A JSON call whose answer's status and body the caller judges (webhook registration).
    func send(operation: String, account: KommoConnection, method: HTTPMethod, path: String, body: JSONValue,
              logger: Logger) async -> (ExecutionResult, OutboundResponse?) {
        await call(operation: operation, account: account, method: method, path: path, body: body, summary: operation,
                   kind: .write, logger: logger)
    }
}
