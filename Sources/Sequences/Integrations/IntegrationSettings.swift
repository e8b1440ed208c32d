import Basics
import Foundation
import Wire

// MARK: - Document

/// A tenant's outbound integrations, as the `GetIntegrations`/`UpdateIntegrations` JSON document spells
/// them:
///
/// ```json
/// {"kommo": {"base_url": "https://acme.kommo.com", "access_token": "…", "rate_limit_per_second": 7,
///            "refresh_token": "…", "client_id": "…", "client_secret": "…", "redirect_uri": "https://…"},
///  "messages": {"mode": "salesbot_field", "field_id": 123, "bot_id": 45,
///               "chats_api": {"scope_id": "…", "channel_secret": "…", "base_url": "https://amojo.kommo.com"}},
///  "webhooks": {"secret": "whsec_…"},
///  "ai": {"provider": "openai", "base_url": "https://api.openai.com", "api_key": "…", "model": "gpt-4o-mini"},
///  "embeddings": {"base_url": "https://api.openai.com", "api_key": "…", "model": "text-embedding-3-small"}}
/// ```
///
/// With `embeddings`, the tenant's agents' knowledge chunks get vectors from that OpenAI-compatible
/// endpoint and searches rank by bm25 and cosine together (``KnowledgeRanking``).
///
/// `kommo.subdomain` may stand instead of `kommo.base_url`. The four secrets are write-only: reads show
/// `access_token_set: true` and the like instead.
package struct IntegrationDocument: Sendable, Hashable {
    /// The whole document, secrets included (only ever in memory).
    package var json: JSONValue

    /// An empty document: nothing connected.
    package init(json: JSONValue = .object([:])) {
        self.json = json
    }

    // MARK: Schema

    /// What one member of the document may hold.
    indirect enum Node {
        case object([String: Node])
        case leaf(Leaf)
    }

    /// The kinds of values members hold.
    enum Leaf {
        /// An absolute http(s) URL without user info, query or fragment.
        case url
        /// A DNS label (Kommo account subdomain).
        case subdomain
        /// A write-only value: never returned, sealed at rest.
        case secret
        /// A short non-empty text.
        case text
        /// A positive integer (Kommo ids).
        case id
        /// Requests per second allowed to Kommo.
        case rate
        /// One of the given words.
        case oneOf([String])
    }

    /// Message modes.
    package static let messageModes = ["salesbot_field", "chats_api", "none"]
    /// AI providers.
    package static let aiProviders = ["template", "openai"]

    static let schema: Node = .object([
        "kommo": .object([
            "base_url": .leaf(.url), "subdomain": .leaf(.subdomain), "access_token": .leaf(.secret),
            "rate_limit_per_second": .leaf(.rate),
            // OAuth: with these the access token is renewed when Kommo refuses it (401).
            "refresh_token": .leaf(.secret), "client_id": .leaf(.text), "client_secret": .leaf(.secret), "redirect_uri": .leaf(.url),
        ]),
        "messages": .object([
            "mode": .leaf(.oneOf(messageModes)), "field_id": .leaf(.id), "bot_id": .leaf(.id),
            "chats_api": .object(["scope_id": .leaf(.text), "channel_secret": .leaf(.secret), "base_url": .leaf(.url)]),
        ]),
        "webhooks": .object(["secret": .leaf(.secret)]),
        "ai": .object([
            "provider": .leaf(.oneOf(aiProviders)), "base_url": .leaf(.url), "api_key": .leaf(.secret), "model": .leaf(.text),
        ]),
        "embeddings": .object(["base_url": .leaf(.url), "api_key": .leaf(.secret), "model": .leaf(.text)]),
    ])

    /// Paths of the write-only members.
    package static let secretPaths: [[String]] = [
        ["kommo", "access_token"], ["messages", "chats_api", "channel_secret"], ["webhooks", "secret"], ["ai", "api_key"],
        ["kommo", "refresh_token"], ["kommo", "client_secret"], ["embeddings", "api_key"],
    ]

    // MARK: Validation

    /// Every problem of the document, each named by its dotted path; empty when it can be stored.
    package func violations() -> [FieldViolation] {
        var found: [FieldViolation] = []
        Self.check(json, against: Self.schema, path: "", into: &found)
        guard found.isEmpty else { return found }
        // Members that only make sense together, checked once each member is well formed.
        if string("kommo", "base_url") != nil, string("kommo", "subdomain") != nil {
            found.append(FieldViolation(field: "kommo.subdomain",
                                        message: "give base_url or subdomain, not both (set the other to null)"))
        }
        if string("kommo", "refresh_token") != nil {
            for key in ["client_id", "client_secret", "redirect_uri"] where json["kommo"]?[key] == nil {
                found.append(FieldViolation(field: "kommo.\(key)", message: "is required with kommo.refresh_token (Kommo renews tokens only with it)"))
            }
        }
        switch string("messages", "mode") {
        case "salesbot_field":
            for key in ["field_id", "bot_id"] where json["messages"]?[key] == nil {
                found.append(FieldViolation(field: "messages.\(key)", message: "is required when mode is salesbot_field"))
            }
        case "chats_api":
            for key in ["scope_id", "channel_secret"] where json["messages"]?["chats_api"]?[key] == nil {
                found.append(FieldViolation(field: "messages.chats_api.\(key)", message: "is required when mode is chats_api"))
            }
        default:
            break
        }
        if string("ai", "provider") == "openai" {
            for key in ["api_key", "model"] where json["ai"]?[key] == nil {
                found.append(FieldViolation(field: "ai.\(key)", message: "is required when provider is openai"))
            }
        }
        if case .object(let members)? = json["embeddings"], !members.isEmpty {
            for key in ["api_key", "model"] where members[key] == nil {
                found.append(FieldViolation(field: "embeddings.\(key)", message: "is required with an embeddings endpoint"))
            }
        }
        if let secret = string("webhooks", "secret"), WebhookSecret(secret) == nil {
            found.append(FieldViolation(field: "webhooks.secret", message: "must be whsec_ followed by base64, or a plain shared secret"))
        }
        return found
    }

    private static func check(_ value: JSONValue, against node: Node, path: String, into found: inout [FieldViolation]) {
        let name = path.isEmpty ? "json" : path
        switch node {
        case .object(let members):
            guard case .object(let object) = value else {
                found.append(FieldViolation(field: name, message: "must be an object"))
                return
            }
            for key in object.keys.sorted() {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                guard let child = members[key] else {
                    if key.hasSuffix("_set"), members[String(key.dropLast(4))] != nil {
                        found.append(FieldViolation(field: childPath,
                                                    message: "is read-only; set \(key.dropLast(4)) to change the value"))
                    } else {
                        let known = members.keys.sorted().joined(separator: ", ")
                        found.append(FieldViolation(field: childPath, message: "is not a known member (known: \(known))"))
                    }
                    continue
                }
                check(object[key]!, against: child, path: childPath, into: &found)
            }
        case .leaf(let leaf):
            if let problem = problem(of: value, as: leaf) {
                found.append(FieldViolation(field: name, message: problem))
            }
        }
    }

    private static func problem(of value: JSONValue, as leaf: Leaf) -> String? {
        switch leaf {
        case .url:
            guard case .string(let text) = value else { return "must be a string" }
            guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
                  let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = components.host, !host.isEmpty
            else { return "must be an absolute http or https URL" }
            if components.user != nil || components.password != nil { return "must not carry user info" }
            if components.query != nil || components.fragment != nil { return "must not carry a query or fragment" }
            return nil
        case .subdomain:
            guard case .string(let text) = value else { return "must be a string" }
            let label = text.lowercased()
            guard !label.isEmpty, label.count <= 63,
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else { return "must be a plain subdomain such as acme (for acme.kommo.com)" }
            return nil
        case .secret:
            guard case .string(let text) = value else { return "must be a string" }
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return "must not be empty (use null to remove it)" }
            return text.utf8.count > 8192 ? "is too long" : nil
        case .text:
            guard case .string(let text) = value else { return "must be a string" }
            if text.trimmingCharacters(in: .whitespaces).isEmpty { return "must not be empty" }
            return text.utf8.count > 512 ? "is too long" : nil
        case .id:
            guard case .int(let id) = value, id > 0 else { return "must be a positive integer" }
            return nil
        case .rate:
            guard case .int(let rate) = value, (1...1000).contains(rate) else { return "must be an integer from 1 to 1000" }
            return nil
        case .oneOf(let words):
            guard case .string(let text) = value, words.contains(text) else {
                return "must be one of " + words.joined(separator: ", ")
            }
            return nil
        }
    }

    // MARK: Reading members

    /// The string at `path`, or `nil`.
    package func string(_ path: String...) -> String? {
        member(path)?.string
    }

    /// The string at `path`, or `nil`.
    func string(at path: [String]) -> String? {
        member(path)?.string
    }

    /// The integer at `path`, or `nil`.
    package func integer(_ path: String...) -> Int64? {
        member(path)?.int64
    }

    private func member(_ path: [String]) -> JSONValue? {
        json.value(at: path)
    }

    // MARK: Secrets

    /// The document split into what may be stored and shown as is, and the write-only values keyed by
    /// dotted path (`kommo.access_token`).
    package func split() -> (settings: JSONValue, secrets: [String: String]) {
        var settings = json
        var secrets: [String: String] = [:]
        for path in Self.secretPaths {
            if let value = member(path)?.string { secrets[path.joined(separator: ".")] = value }
            settings = Self.removing(path[...], from: settings)
        }
        return (settings, secrets)
    }

    /// The document put back together from ``split()``'s parts.
    package init(settings: JSONValue, secrets: [String: String]) {
        var json = settings
        for (dotted, value) in secrets {
            json = Self.setting(dotted.split(separator: ".").map(String.init)[...], to: .string(value), in: json)
        }
        self.json = json
    }

    /// What reads show: no secrets, a `<name>_set` flag for each, and the defaults in force.
    package var publicJSON: JSONValue {
        var view = split().settings
        for path in Self.secretPaths {
            var flagPath = path
            flagPath[flagPath.count - 1] += "_set"
            view = Self.setting(flagPath[...], to: .bool(member(path) != nil), in: view)
        }
        if member(["messages", "mode"]) == nil { view = Self.setting(["messages", "mode"], to: "none", in: view) }
        if member(["ai", "provider"]) == nil { view = Self.setting(["ai", "provider"], to: "template", in: view) }
        if member(["kommo", "rate_limit_per_second"]) == nil {
            view = Self.setting(["kommo", "rate_limit_per_second"], to: .int(Int64(Self.defaultKommoRate)), in: view)
        }
        return view
    }

    /// Kommo's documented limit per integration.
    package static let defaultKommoRate = 7

    static func removing(_ path: ArraySlice<String>, from value: JSONValue) -> JSONValue {
        guard let key = path.first, case .object(var object) = value else { return value }
        if path.count == 1 {
            object[key] = nil
        } else if let child = object[key] {
            let pruned = removing(path.dropFirst(), from: child)
            // An object left empty by removing its secret disappears too, so reads stay tidy.
            if case .object(let members) = pruned, members.isEmpty { object[key] = nil } else { object[key] = pruned }
        }
        return .object(object)
    }

    static func setting(_ path: ArraySlice<String>, to newValue: JSONValue, in value: JSONValue) -> JSONValue {
        guard let key = path.first else { return newValue }
        var object: [String: JSONValue] = if case .object(let members) = value { members } else { [:] }
        object[key] = setting(path.dropFirst(), to: newValue, in: object[key] ?? .object([:]))
        return .object(object)
    }
}
