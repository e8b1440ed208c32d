import TestSupport
import Foundation
import Gateway
import Hummingbird
import NIOHTTP1
import Prometheus
import ServiceKit
import Testing

/// The OpenAPI document against the router it describes, and tenant isolation over every operation it lists.
@Suite("OpenAPI document", .serialized)
struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "patch", "delete", "head", "options"]

    /// `METHOD /path` of every operation of the document.
    static func operations(_ document: [String: Any]) -> [(method: String, path: String, operation: [String: Any])] {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return paths.sorted { $0.key < $1.key }.flatMap { path, item in
            item.filter { methods.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key.uppercased(), path, $0.value as? [String: Any] ?? [:]) }
        }
    }

    static var document: [String: Any] {
        (try? JSONSerialization.jsonObject(with: OpenAPIDocument.data)) as? [String: Any] ?? [:]
    }

    @Test("every route the router serves is in the document, and nothing else")
    func routesMatchTheRouter() async throws {
        let folder = temporaryFolder("openapi")
        let configuration = GatewayConfiguration(dataDir: folder, rpcSecurity: TestPKI.security("gateway"))
        let store = GatewayStore(db: try StoreFactory.open(folder: folder, migrator: GatewayStore.migrator))
        let peers = Peers(configuration: configuration, logger: quietLogger)
        defer { peers.close() }
        let router = try GatewayApp.router(configuration: configuration, store: store, peers: peers, adminToken: "unused-admin-token-0123456789",
                                           metrics: PrometheusCollectorRegistry())
        // A catch-all (`**`) cannot be an OpenAPI path template; the document names it as one parameter.
        let served = Set(router.routes.map { "\($0.method) " + $0.path.description.replacingOccurrences(of: "/**", with: "/{file}") })
        let documented = Set(Self.operations(Self.document).map { "\($0.method) \($0.path)" })
        #expect(served.count > 50)
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }

    @Test("the document is well formed: unique operation ids, declared path parameters, resolvable references")
    func wellFormed() throws {
        let document = Self.document
        #expect(document["openapi"] as? String == "3.1.0")
        let operations = Self.operations(document)
        let ids = operations.compactMap { $0.operation["operationId"] as? String }
        #expect(ids.count == operations.count)
        #expect(Set(ids).count == ids.count, "duplicate operation ids")
        for (method, path, operation) in operations {
            let declared = Set((operation["parameters"] as? [[String: Any]] ?? []).filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String })
            let template = Set(path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
            #expect(declared == template, "\(method) \(path): path parameters \(declared.sorted()) vs template \(template.sorted())")
            let responses = operation["responses"] as? [String: Any] ?? [:]
            #expect(responses.keys.contains { $0.hasPrefix("2") || $0.hasPrefix("3") }, "\(method) \(path) has no success answer")
            if (operation["security"] as? [[String: Any]])?.isEmpty == false {
                #expect(responses["401"] != nil, "\(method) \(path) needs authentication but does not document 401")
            }
        }
        let components = document["components"] as? [String: [String: Any]] ?? [:]
        var references: [String] = []
        func collect(_ value: Any) {
            if let object = value as? [String: Any] {
                if let reference = object["$ref"] as? String { references.append(reference) }
                object.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(document)
        #expect(references.count > 100)
        for reference in Set(references) {
            let parts = reference.split(separator: "/").map(String.init)
            #expect(parts.count == 4 && parts[0] == "#" && parts[1] == "components" && components[parts[2]]?[parts[3]] != nil,
                    "unresolved reference \(reference)")
        }
    }

    /// Tenant B calls every tenant-scoped operation with an id path parameter, filled with ids that
    /// exist in tenant A, and must get 404 every time. The operations come from the live document, so a
    /// new route is covered the moment it is documented — and one whose id this test cannot fill fails it.
    @Test("another tenant's ids answer 404 on every operation of the document")
    func isolationOverEveryOperation() async throws {
        let system = try await FullSystem.make(rateLimit: 1000)
        try await system.run { client in
            let served = try await client.request(.GET, "/api/v1/openapi.json")
            #expect(served.status == 200)
            #expect(served.headers.first(name: "Content-Type") == "application/json")
            let document = try #require(try JSONSerialization.jsonObject(with: served.body) as? [String: Any])

            let owner = try await client.createTenant(admin: system.adminToken, name: "owner")
            let other = try await client.createTenant(admin: system.adminToken, name: "other")
            func create(_ path: String, _ body: [String: Any]) async throws -> String {
                let answer = try await client.json(.POST, path, body, token: owner.key)
                #expect(answer.status == 201, "\(path): \(answer.text)")
                return answer.json["id"] as? String ?? ""
            }
            let agent = try await create("/api/v1/agents", ["name": "Sofia"])
            let rule = try await create("/api/v1/agents/\(agent)/rules", [
                "name": "Note new leads", "trigger": ["type": "lead_created"], "actions": [["type": "add_note", "text": "New lead"]]])
            let script = try await create("/api/v1/agents/\(agent)/scripts", ["name": "Greeting", "type": "greeting", "body": "Hi!"])
            let knowledge = try await create("/api/v1/agents/\(agent)/knowledge", ["title": "Delivery", "content": "We deliver to Valencia."])
            let sequence = try await create("/api/v1/agents/\(agent)/sequences", [
                "name": "Follow up", "status": "active", "trigger": ["type": "manual"],
                "steps": [["delay_days": 1, "action": ["type": "add_note", "text": "Follow up"]]]])
            let enrollment = try await create("/api/v1/agents/\(agent)/sequences/\(sequence)/enrollments", ["lead_id": 4410022])
            let key = try await create("/api/v1/api-keys", ["name": "second"])
            #expect(try await client.postWebhook(secret: owner.secret, body: try Fixtures.body("lead_added")).status == 200)
            let unparsed = try await client.postWebhook(secret: owner.secret, body: Data("not=kommo".utf8)).json["delivery_id"] as? String ?? ""
            let lead = "4410022"
            let found = Locked("")
            #expect(try await eventually {
                let events = try await client.request(.GET, "/api/v1/webhooks/events?origin=kommo", token: owner.key).json["items"] as? [[String: Any]]
                found.withLock { $0 = events?.first?["id"] as? String ?? "" }
                return !found.value.isEmpty
            })
            let event = found.value
            // The owner's rule fires for the lead, so its timeline has something another tenant must not see.
            #expect(try await eventually {
                let items = try await client.request(.GET, "/api/v1/leads/\(lead)/timeline", token: owner.key).json["items"] as? [Any]
                return items?.isEmpty == false
            })
            // The action the owner's rule planned, as its action-log entries name it.
            let actionFound = Locked("")
            #expect(try await eventually {
                let items = try await client.request(.GET, "/api/v1/actions", token: owner.key).json["items"] as? [[String: Any]]
                actionFound.withLock { $0 = items?.first?["action_id"] as? String ?? "" }
                return !actionFound.value.isEmpty
            })
            let action = actionFound.value
            let ownerIDs = [agent, rule, script, knowledge, sequence, enrollment, key, event, unparsed].filter { !$0.isEmpty }
            #expect(ownerIDs.count == 9)

            /// The owner's id for a path parameter; `id` depends on the collection it follows.
            func value(_ name: String, in path: String) -> String? {
                switch name {
                case "id":
                    if path.hasPrefix("/api/v1/agents/") { return agent }
                    if path.hasPrefix("/api/v1/webhooks/events/") { return event }
                    if path.hasPrefix("/api/v1/webhooks/deliveries/") { return unparsed }
                    if path.hasPrefix("/api/v1/api-keys/") { return key }
                    return nil
                case "agentId": return agent
                case "ruleId": return rule
                case "scriptId": return script
                case "docId": return knowledge
                case "sequenceId": return sequence
                case "enrollmentId": return enrollment
                case "leadId": return lead
                case "actionId": return action
                default: return nil
                }
            }

            var checked = 0
            for (method, template, operation) in Self.operations(document) {
                let security = operation["security"] as? [[String: Any]] ?? []
                guard security.contains(where: { $0["apiKey"] != nil }) else { continue }
                let names = template.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
                let label = "\(method) \(template)"
                if names.isEmpty {
                    // No id to fill: the other tenant's lists and reads must show nothing of the owner's.
                    guard method == "GET" else { continue }
                    let answer = try await client.request(.GET, template, token: other.key)
                    #expect(answer.status == 200, "\(label): \(answer.status) \(answer.text)")
                    for id in ownerIDs { #expect(!answer.text.contains(id), "\(label) shows the owner's \(id)") }
                    continue
                }
                // A catalog part names no resource of anyone's; the list check above covers the catalog itself.
                if names == ["kind"] { continue }
                var path = template
                for name in names {
                    guard let id = value(name, in: template) else {
                        Issue.record("\(label): no owner id for {\(name)}; teach this test one so the route stays covered")
                        continue
                    }
                    path = path.replacingOccurrences(of: "{\(name)}", with: id)
                }
                var body: Data?
                if let content = (operation["requestBody"] as? [String: Any])?["content"] as? [String: Any],
                   let example = (content["application/json"] as? [String: Any])?["example"] {
                    body = try JSONSerialization.data(withJSONObject: example)
                } else if (operation["requestBody"] as? [String: Any])?["required"] as? Bool == true {
                    Issue.record("\(label): a required body without an example; add one to the document")
                }
                let answer = try await client.request(HTTPMethod(rawValue: method), path, body: body, token: other.key)
                checked += 1
                if names == ["leadId"] {
                    // A Kommo lead id is not ours to hide; what another tenant must not see is the owner's timeline,
                    // nor release the owner's held messages.
                    #expect(answer.status == 200, "\(label): \(answer.status) \(answer.text)")
                    if method == "POST" {
                        let released = answer.json["released"] as? Int
                        #expect(released == 0, "\(label) released the owner's messages: \(answer.text)")
                    } else {
                        #expect((answer.json["items"] as? [Any])?.isEmpty == true, "\(label) shows the owner's timeline: \(answer.text)")
                    }
                    continue
                }
                #expect(answer.status == 404, "\(label) with the owner's ids answered \(answer.status): \(answer.text)")
                #expect(answer.headers.first(name: "Content-Type") == "application/problem+json", "\(label)")
            }
            #expect(checked >= 36, "only \(checked) operations with ids were checked")

            // Nothing the other tenant did reached the owner's resources.
            for path in ["/api/v1/agents/\(agent)", "/api/v1/agents/\(agent)/rules/\(rule)", "/api/v1/agents/\(agent)/scripts/\(script)",
                         "/api/v1/agents/\(agent)/sequences/\(sequence)", "/api/v1/webhooks/events/\(event)"] {
                #expect(try await client.request(.GET, path, token: owner.key).status == 200, "\(path)")
            }
            let keys = try await client.request(.GET, "/api/v1/api-keys", token: owner.key)
            let revoked = (keys.json["items"] as? [[String: Any]] ?? []).first { $0["id"] as? String == key }?["revoked_at"]
            #expect(revoked == nil, "the other tenant revoked the owner's key")
        }
    }
}
