import Basics
import Domain
import Foundation

/// Turns a Chats API channel webhook into events.
///
/// Kommo posts to a channel's webhook when someone in Kommo writes on that channel (KOMMO.md §1, "More
/// inbound shapes"): JSON, signed with the channel secret, sent once. The one shape documented is a
/// message from Kommo to the channel's client:
///
/// ```json
/// {"account_id": "<amojo account>", "time": 1764072700,
///  "message": {"receiver": {"id": "…", "client_id": "lead-4410022"},
///              "sender": {"id": "<amojo user>", "name": "Ana Torres"},
///              "conversation": {"id": "…", "client_id": "lead-4410022"},
///              "timestamp": 1764072700, "msec_timestamp": 1764072700123,
///              "message": {"id": "…", "type": "text", "text": "…"}}}
/// ```
///
/// It becomes a `message_sent` event by a manager (only Kommo users write on the channel from Kommo's
/// side; our own sends go the other way and never come back here). The lead is the one our
/// conversation id names: sequence-service opens one conversation per lead, `lead-<id>`. Any other JSON
/// object becomes one `unknown` event holding its scalars, so nothing signed is dropped.
package enum KommoChatsWebhookParser {
    /// The `origin` of chat messages on the tenant's own channel.
    package static let origin = "chats_api"

    /// Parses a verified body.
    /// - Throws: ``KommoWebhookError`` (`empty_body`, `not_form_data` for anything but a JSON object).
    package static func parse(body: [UInt8], tenantID: String, scopeID: String, receivedAt: Date) throws(KommoWebhookError) -> [KommoEvent] {
        guard body.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
            throw KommoWebhookError(code: .emptyBody, reason: "the body is empty")
        }
        guard let json = JSONValue(parsing: body), let root = json.object else {
            throw KommoWebhookError(code: .notFormData, reason: "a Chats API webhook is a JSON object; this body is not")
        }
        if let outer = root["message"], let inner = outer["message"], let messageID = text(inner["id"]), !messageID.isEmpty {
            return [messageEvent(outer: outer, inner: inner, messageID: messageID, root: root, tenantID: tenantID,
                                 scopeID: scopeID, receivedAt: receivedAt)]
        }
        return [unknownEvent(root, body: body, tenantID: tenantID, scopeID: scopeID, receivedAt: receivedAt)]
    }

    // MARK: Events

    static func messageEvent(outer: JSONValue, inner: JSONValue, messageID: String, root: [String: JSONValue], tenantID: String,
                             scopeID: String, receivedAt: Date) -> KommoEvent {
        var message = MessageFields()
        message.id = messageID
        message.text = text(inner["text"]) ?? ""
        message.messageType = text(inner["type"]) ?? ""
        message.chatID = text(outer["conversation"]?["id"]) ?? ""
        message.origin = origin
        message.direction = "outgoing"
        message.authorID = text(outer["sender"]?["id"]) ?? ""
        message.authorName = text(outer["sender"]?["name"]) ?? ""
        message.authorType = "user"
        message.authorKind = .manager
        message.attachmentLink = text(inner["media"]) ?? ""
        message.attachmentFileName = text(inner["file_name"]) ?? ""
        if !message.attachmentLink.isEmpty { message.attachmentType = message.messageType }
        let conversation = text(outer["conversation"]?["client_id"]) ?? text(outer["receiver"]?["client_id"]) ?? ""
        var fields: [String: String] = ["scope_id": scopeID, "conversation_client_id": conversation]
        if let account = text(root["account_id"]) { fields["amojo_account_id"] = account }
        if let receiver = text(outer["receiver"]?["id"]) { fields["receiver[id]"] = receiver }
        let occurred = (outer["msec_timestamp"]?.int64).map { Date(timeIntervalSince1970: TimeInterval($0) / 1000) }
            ?? (outer["timestamp"]?.int64 ?? root["time"]?.int64).map { Date(timeIntervalSince1970: TimeInterval($0)) }
        var hash = StableHash128()
        hash.combine(component: "kommo-chats/1")
        hash.combine(component: tenantID)
        hash.combine(component: "message")
        hash.combine(component: messageID)
        return KommoEvent(
            id: "ev_" + hash.hex, tenantID: tenantID, type: .messageSent, entityType: "message", entityID: messageID,
            leadID: leadID(conversationClientID: conversation), occurredAt: occurred.map { min($0, receivedAt) } ?? receivedAt,
            receivedAt: receivedAt, origin: .kommo, message: message, fields: fields)
    }

    /// A JSON object of a shape this parser does not know: its scalars by dotted path, up to a bound, and
    /// an id from its bytes, so a repeat is the same event.
    static func unknownEvent(_ root: [String: JSONValue], body: [UInt8], tenantID: String, scopeID: String, receivedAt: Date) -> KommoEvent {
        var fields: [String: String] = ["_family": "chats_api", "scope_id": scopeID]
        func flatten(_ value: JSONValue, path: String) {
            guard fields.count < 200 else { return }
            switch value {
            case .object(let members):
                for key in members.keys.sorted() { flatten(members[key]!, path: path.isEmpty ? key : "\(path).\(key)") }
            case .array(let elements):
                for (index, element) in elements.prefix(50).enumerated() { flatten(element, path: "\(path)[\(index)]") }
            case .null:
                break
            default:
                if let scalar = text(value) ?? value.string { fields[path.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")] = String(scalar.prefix(2000)) }
            }
        }
        flatten(.object(root), path: "")
        var hash = StableHash128()
        hash.combine(component: "kommo-chats/1")
        hash.combine(component: tenantID)
        hash.combine(component: "body")
        hash.combine(bytes: body)
        let id = "ev_" + hash.hex
        return KommoEvent(id: id, tenantID: tenantID, type: .unknown, entityType: "chats_api", entityID: "",
                          occurredAt: receivedAt, receivedAt: receivedAt, origin: .kommo, fields: fields)
    }

    /// The lead of a conversation we named `lead-<id>`.
    static func leadID(conversationClientID: String) -> Int64? {
        guard conversationClientID.hasPrefix("lead-"), let id = Int64(conversationClientID.dropFirst(5)), id > 0 else { return nil }
        return id
    }

    /// A string or a number as text; `nil` for anything else. A NUL (`\u0000` in JSON) becomes U+FFFD:
    /// the wire between services cannot carry it, and no chat message means one.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
        case .int(let number)?: String(number)
        default: nil
        }
    }
}
