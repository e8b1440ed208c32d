import Basics
import Domain
import Foundation

// MARK: - Results

/// The account block that closes a Kommo webhook body (`account[id]`, `account[subdomain]`,
/// `account[_links][self]`); 2016-era bodies carry only the subdomain.
package struct WebhookAccountBlock: Hashable, Sendable {
    /// `account[id]`, when present and numeric.
    package var id: Int64?
    /// `account[subdomain]`, when present and not empty.
    package var subdomain: String?
    /// `account[_links][self]`, e.g. `https://acmesales.kommo.com`. Never guessed from the subdomain,
    /// because the host differs between Kommo and amoCRM accounts.
    package var baseURL: String?

    /// An account block with the given parts.
    package init(id: Int64? = nil, subdomain: String? = nil, baseURL: String? = nil) {
        self.id = id
        self.subdomain = subdomain
        self.baseURL = baseURL
    }
}

/// What one webhook POST carried: its account block and one event per item, in body order.
package struct ParsedDelivery: Hashable, Sendable {
    /// The account block; all `nil` when the body had none.
    package var account: WebhookAccountBlock
    /// One event per item of every entity and action, in body order: entity, then action, then index.
    package var events: [KommoEvent]

    /// A delivery with its account block and events.
    package init(account: WebhookAccountBlock, events: [KommoEvent]) {
        self.account = account
        self.events = events
    }
}

/// Why a body could not be understood at all; the caller stores such a delivery as `unparsed` with
/// its `reason`.
package typealias KommoWebhookError = BodyRefusal<KommoWebhookFailure>

/// The kind of failure of a ``KommoWebhookError``.
package enum KommoWebhookFailure: String, Hashable, Sendable {
    /// Nothing but whitespace.
    case emptyBody = "empty_body"
    /// JSON, markup or binary instead of `application/x-www-form-urlencoded`.
    case notFormData = "not_form_data"
    /// Form data beyond the decoder's bounds (pairs, key length, depth).
    case limitExceeded = "limit_exceeded"
    /// A key or value decodes to a NUL byte (`%00`), which no Kommo field holds and the wire cannot carry.
    case nulByte = "nul_byte"
    /// Form data without any known entity key and without an account block.
    case unrecognized
}

// MARK: - Parser

/// Turns a Kommo account webhook body into normalized events.
///
/// A body is a thin change signal: one POST may carry several entities (`leads`, `contacts`, …), each
/// with several actions (`add`, `status`, …), each with several items (`[0]`, `[1]`, …). Every item
/// becomes exactly one ``KommoEvent``; items of families or actions this parser does not know become
/// events of type `unknown` with their raw fields, so nothing Kommo sends is dropped.
///
/// | body | event type | entity type |
/// |---|---|---|
/// | `leads[add|update|delete|restore]` | `lead_created|updated|deleted|restored` | `lead` |
/// | `leads[status]`, `leads[responsible]` | `stage_changed`, `responsible_changed` | `lead` |
/// | `leads[mail_in|call_in|chat|site_visit]` (Digital Pipeline) | `lead_mail_in|lead_call_in|lead_chat|lead_site_visit` | `lead` |
/// | `<family>[note]` (inner `note` map) | `call_in` (type 10), `call_out` (11), else `note_added` | the family's |
/// | `contacts[note]` with `element_type` 3 | as any note | `company` |
/// | `contacts[...]` with `type=contact` (or none) | `contact_created|updated|deleted|restored`, `responsible_changed` | `contact` |
/// | `contacts[...]` with `type=company`, `companies[...]` | `company_created|updated|deleted|restored`, `responsible_changed` | `company` |
/// | `customers[...]` | `customer_created|updated|deleted|restored`, `responsible_changed`; `customer_period` for `period` (Digital Pipeline) | `customer` |
/// | `task[add|update|delete|responsible]` | `task_created`, `task_updated` or `task_completed` (`status=1` or `action_close=1`), `task_deleted`, `responsible_changed` | `task` |
/// | `message[add]` | `message_received` | `message` |
/// | `outgoing_message[add]` | `message_sent`, with the author's kind (manager, bot, integration) | `message` |
/// | `talk[add|update]` | `talk_created|updated` | `talk` |
/// | `unsorted[add|update]`, `unsorted[delete]` | `unsorted_created|updated`; `unsorted_accepted|declined` by `action` (the lead from `accept_result[leads]` / `decline_result[leads]`), else `unsorted_deleted` | `unsorted` |
/// | `catalogs[add|update|delete]` | `catalog_created|updated|deleted` | `catalog` |
/// | anything else | `unknown` | the family's, or the raw top-level key |
///
/// Event ids are derived from a dedup key (tenant, account, entity, action, item id and its
/// `updated_at`/`last_modified`; for chat messages the message id), so a retried delivery yields the
/// same ids and the store can ignore the repeats. See ``eventID(for:type:accountKey:tenantID:)``.
package enum KommoWebhookParser {
    /// Parses raw body bytes.
    /// - Throws: ``KommoWebhookError`` when the body is empty, not form data, beyond the decoder's
    ///   bounds, or has neither a known entity key nor an account block.
    package static func parse(
        body: [UInt8], tenantID: String, receivedAt: Date, limits: FormDecoder.Limits = .default
    ) throws(KommoWebhookError) -> ParsedDelivery {
        try checkLooksLikeForm(body)
        let form: FormValue
        do {
            form = try FormDecoder.decode(body, limits: limits)
        } catch {
            throw KommoWebhookError(code: error.code == .nulByte ? .nulByte : .limitExceeded, reason: error.reason)
        }
        return try parse(form: form, tenantID: tenantID, receivedAt: receivedAt)
    }

    /// Parses a body given as text.
    /// - Throws: ``KommoWebhookError``, as for raw bytes.
    package static func parse(
        body: String, tenantID: String, receivedAt: Date, limits: FormDecoder.Limits = .default
    ) throws(KommoWebhookError) -> ParsedDelivery {
        try parse(body: Array(body.utf8), tenantID: tenantID, receivedAt: receivedAt, limits: limits)
    }

    /// Turns an already decoded body into events.
    /// - Throws: ``KommoWebhookFailure/unrecognized`` when the tree has neither a known entity key
    ///   nor an account block.
    package static func parse(form: FormValue, tenantID: String, receivedAt: Date) throws(KommoWebhookError) -> ParsedDelivery {
        guard let root = form.map, !root.isEmpty else {
            throw KommoWebhookError(code: .emptyBody, reason: "the body holds no key=value pairs")
        }
        let accountBlock = root["account"]?.map
        let account = WebhookAccountBlock(
            id: accountBlock?["id"]?.int64,
            subdomain: accountBlock?["subdomain"]?.string.flatMap { $0.isEmpty ? nil : $0 },
            baseURL: accountBlock?["_links"]?["self"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        )
        // Only map-shaped top-level keys can be entities; stray scalars (`foo=bar`) are not events.
        let families = root.entries.filter { $0.key != "account" && $0.value.map != nil }
        guard accountBlock != nil || families.contains(where: { Family(key: $0.key).isKnown }) else {
            let keys = root.keys.prefix(5).map { FormDecoder.preview(Array($0.utf8)) }.joined(separator: ", ")
            throw KommoWebhookError(
                code: .unrecognized,
                reason: "no Kommo entity key (leads, contacts, companies, customers, task, message, outgoing_message, "
                    + "talk, unsorted, catalogs) and no account block; top-level keys: \(keys)"
                    + (root.count > 5 ? ", … (\(root.count) in all)" : "")
            )
        }

        var events: [KommoEvent] = []
        for familyEntry in families {
            let family = Family(key: familyEntry.key)
            for actionEntry in familyEntry.value.entries {
                for item in items(of: actionEntry.value, family: family, familyKey: familyEntry.key, action: actionEntry.key) {
                    events.append(event(for: item, account: account, tenantID: tenantID, receivedAt: receivedAt))
                }
            }
        }
        return ParsedDelivery(account: account, events: events)
    }

    // MARK: Body sniffing

    /// Refuses bodies that are plainly something else, with a reason that says what they look like.
    private static func checkLooksLikeForm(_ body: [UInt8]) throws(KommoWebhookError) {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let first = body.first(where: { !whitespace.contains($0) }) else {
            throw KommoWebhookError(code: .emptyBody, reason: "the body is empty")
        }
        switch first {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            throw KommoWebhookError(code: .notFormData, reason: "the body looks like JSON, not application/x-www-form-urlencoded")
        case UInt8(ascii: "<"):
            throw KommoWebhookError(code: .notFormData, reason: "the body looks like XML or HTML, not application/x-www-form-urlencoded")
        default:
            break
        }
        // Encoders escape control bytes, so a raw one means binary data, not a form.
        if let offset = body.firstIndex(where: { $0 < 0x20 && !whitespace.contains($0) || $0 == 0x7F }) {
            throw KommoWebhookError(
                code: .notFormData,
                reason: "the body contains the control byte 0x\(String(body[offset], radix: 16)) at offset \(offset); form data has none"
            )
        }
    }

    // MARK: Families and items

    /// The top-level entity keys Kommo sends.
    enum Family: Hashable {
        case leads, contacts, companies, customers, task, message, outgoingMessage, talk, unsorted, catalogs
        /// Any other top-level map: kept as `unknown` events under its raw name.
        case other(String)

        /// The family for a top-level key (case-sensitive, as Kommo sends them).
        init(key: String) {
            switch key {
            case "leads": self = .leads
            case "contacts": self = .contacts
            case "companies": self = .companies
            case "customers": self = .customers
            case "task": self = .task
            case "message": self = .message
            case "outgoing_message": self = .outgoingMessage
            case "talk": self = .talk
            case "unsorted": self = .unsorted
            case "catalogs": self = .catalogs
            default: self = .other(key)
            }
        }

        /// Whether this is one of the families Kommo documents.
        var isKnown: Bool {
            if case .other = self { return false }
            return true
        }

        /// Chat messages, either way.
        var isMessage: Bool { self == .message || self == .outgoingMessage }
    }

    /// One item of one entity/action, with the lookups every field needs.
    struct Item {
        /// The entity family the item came under.
        var family: Family
        /// The raw top-level key (`leads`, `contacts`, or an unknown name).
        var familyKey: String
        /// The raw action key (`add`, `status`, …).
        var action: String
        /// The item's key under the action (`"0"`), or `""` when the action held the fields directly.
        var index: String
        /// The item's own map.
        var fields: FormMap
        /// For `note` actions, the inner `note` map, which holds the note's own fields.
        var note: FormMap?
        /// The action held a bare string instead of items: kept as an `unknown` event.
        var isScalar: Bool

        /// A scalar field, looked up in the inner note first (its fields describe the event), then in
        /// the item.
        func field(_ name: String) -> String? {
            if let value = note?[name]?.string { return value }
            return fields[name]?.string
        }

        /// A field read as an integer.
        func int(_ name: String) -> Int64? {
            field(name).flatMap { Int64($0.trimmingASCIISpaces()) }
        }

        /// A non-empty field.
        func nonEmpty(_ name: String) -> String? {
            field(name).flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    /// The items under one action. Normally a map of index → item map; an action whose map holds
    /// scalars directly (`leads[add][id]=1`) is read as a single item, and a bare string as an
    /// `unknown` item, so odd shapes are recorded rather than lost.
    static func items(of value: FormValue, family: Family, familyKey: String, action: String) -> [Item] {
        func item(_ index: String, _ fields: FormMap, scalar: Bool = false) -> Item {
            Item(
                family: family, familyKey: familyKey, action: action, index: index, fields: fields,
                note: action == "note" ? fields["note"]?.map : nil, isScalar: scalar
            )
        }
        switch value {
        case .string(let text):
            return [item("", ["value": .string(text)], scalar: true)]
        case .map(let map):
            if map.entries.allSatisfy({ $0.value.map != nil }) {
                return map.entries.map { item($0.key, $0.value.map!) }
            }
            return [item("", map)]
        }
    }

    // MARK: Events

    /// The event for one item. Unknown events also carry `_family`, `_action` and `_index` in
    /// `fields`, since their type cannot say what happened.
    static func event(for item: Item, account: WebhookAccountBlock, tenantID: String, receivedAt: Date) -> KommoEvent {
        let type = eventType(for: item)
        let accountID = account.id ?? item.int("account_id")
        var fields = flatFields(of: item)
        if type == .unknown {
            // An unknown event has no type to say what happened, so keep where it was found.
            fields["_family"] = item.familyKey
            fields["_action"] = item.action
            if !item.index.isEmpty { fields["_index"] = item.index }
        }
        let accountKey = accountID.map { String($0) } ?? account.subdomain ?? ""
        return KommoEvent(
            id: eventID(for: item, type: type, accountKey: accountKey, tenantID: tenantID),
            tenantID: tenantID,
            accountID: accountID,
            type: type,
            entityType: entityType(for: item),
            entityID: entityID(for: item),
            leadID: leadID(for: item),
            occurredAt: occurredAt(for: item) ?? receivedAt,
            receivedAt: receivedAt,
            origin: .kommo,
            pipelineID: item.int("pipeline_id"),
            statusID: item.int("status_id"),
            oldStatusID: item.int("old_status_id"),
            oldPipelineID: item.int("old_pipeline_id"),
            responsibleUserID: item.int("responsible_user_id"),
            oldResponsibleUserID: item.int("old_responsible_user_id"),
            noteType: item.action == "note" ? item.int("note_type").flatMap { Int(exactly: $0) } : nil,
            message: item.family.isMessage ? messageFields(of: item) : nil,
            fields: fields,
            customFields: customFields(of: item)
        )
    }

    /// The event type for the item's family and action; see the type's documentation for the table.
    static func eventType(for item: Item) -> EventType {
        if item.isScalar { return .unknown }
        let action = item.action
        switch item.family {
        case .leads:
            switch action {
            case "add": return .leadCreated
            case "update": return .leadUpdated
            case "delete": return .leadDeleted
            case "restore": return .leadRestored
            case "status": return .stageChanged
            case "responsible": return .responsibleChanged
            case "note": return noteEventType(item)
            // Digital Pipeline webhooks set per stage.
            case "mail_in": return .leadMailIn
            case "call_in": return .leadCallIn
            case "chat": return .leadChat
            case "site_visit": return .leadSiteVisit
            default: return .unknown
            }
        case .customers where action == "period":
            return .customerPeriod
        case .contacts, .companies, .customers:
            let kind = entityType(for: item)
            switch action {
            case "add": return EventType(rawValue: kind + "_created")
            case "update": return EventType(rawValue: kind + "_updated")
            case "delete": return EventType(rawValue: kind + "_deleted")
            case "restore": return EventType(rawValue: kind + "_restored")
            case "responsible": return .responsibleChanged
            case "note": return noteEventType(item)
            default: return .unknown
            }
        case .task:
            switch action {
            case "add": return .taskCreated
            case "update":
                // `status` 1 is "done"; `action_close` marks the update that closed it.
                return item.field("status") == "1" || item.field("action_close") == "1" ? .taskCompleted : .taskUpdated
            case "delete": return .taskDeleted
            case "responsible": return .responsibleChanged
            default: return .unknown
            }
        case .message:
            return action == "add" ? .messageReceived : .unknown
        case .outgoingMessage:
            return action == "add" ? .messageSent : .unknown
        case .talk:
            switch action {
            case "add": return .talkCreated
            case "update": return .talkUpdated
            default: return .unknown
            }
        case .unsorted:
            switch action {
            case "add": return .unsortedCreated
            case "update": return .unsortedUpdated
            case "delete":
                switch item.field("action") {
                case "accept": return .unsortedAccepted
                case "decline": return .unsortedDeclined
                default: return .unsortedDeleted
                }
            default: return .unknown
            }
        case .catalogs:
            switch action {
            case "add": return .catalogCreated
            case "update": return .catalogUpdated
            case "delete": return .catalogDeleted
            default: return .unknown
            }
        case .other:
            return .unknown
        }
    }

    /// Calls arrive as notes: 10 incoming, 11 outgoing.
    private static func noteEventType(_ item: Item) -> EventType {
        switch item.int("note_type") {
        case 10: .callIn
        case 11: .callOut
        default: .noteAdded
        }
    }

    /// The normalized entity name; a contact without `type` is a contact.
    static func entityType(for item: Item) -> String {
        switch item.family {
        case .leads: "lead"
        // Kommo sends companies under `contacts` with `type=company`, and company notes under
        // `contacts[note]` with `element_type` 3 and no `type`.
        case .contacts:
            item.field("type") == "company" || (item.action == "note" && item.field("element_type") == "3") ? "company" : "contact"
        case .companies: "company"
        case .customers: "customer"
        case .task: "task"
        case .message, .outgoingMessage: "message"
        case .talk: "talk"
        case .unsorted: "unsorted"
        case .catalogs: "catalog"
        case .other(let key): key
        }
    }

    /// The item's own id: the note's id for notes, `talk_id` for talks, `uid` for unsorted leads.
    static func itemID(for item: Item) -> String {
        switch item.family {
        case .talk: item.nonEmpty("talk_id") ?? item.nonEmpty("id") ?? ""
        case .unsorted: item.nonEmpty("uid") ?? item.nonEmpty("id") ?? ""
        default: item.nonEmpty("id") ?? ""
        }
    }

    /// The entity the event is about. A note is an event on the entity it is attached to
    /// (`element_id`), so a call on a lead reads as "lead 4410021 had a call"; the note's own id stays
    /// in `fields["id"]`.
    static func entityID(for item: Item) -> String {
        if item.action == "note", item.family.isKnown {
            return item.nonEmpty("element_id") ?? ""
        }
        return itemID(for: item)
    }

    /// The lead the item concerns, when the body says so; `0` and missing ids are `nil`.
    static func leadID(for item: Item) -> Int64? {
        func positive(_ value: Int64?) -> Int64? { value.flatMap { $0 > 0 ? $0 : nil } }
        let isLeadElement = item.field("element_type") == "2"
        let isLeadEntity = ["lead", "leads", "2"].contains(item.field("entity_type") ?? "")
        switch item.family {
        case .leads:
            // A lead note's `element_id` is the lead even when `element_type` is missing.
            if item.action == "note" { return positive(item.int("element_id")) }
            return positive(item.int("id"))
        case .contacts, .companies, .customers, .task:
            return isLeadElement ? positive(item.int("element_id")) : nil
        case .message, .outgoingMessage:
            if isLeadEntity, let id = positive(item.int("entity_id")) { return id }
            return isLeadElement ? positive(item.int("element_id")) : nil
        case .talk:
            return isLeadEntity ? positive(item.int("entity_id")) : nil
        case .unsorted:
            // Shape unverified: an accepted unsorted entry names the lead it became, if anywhere,
            // in `lead_id` or `accept_result[leads]`; a declined one the lead it held (and Kommo
            // closes as lost) in `decline_result[leads]`.
            if let id = positive(item.int("lead_id")) { return id }
            for result in ["accept_result", "decline_result"] {
                if let id = positive(firstID(item.fields[result]?["leads"])) { return id }
            }
            return nil
        case .catalogs, .other:
            return nil
        }
    }

    /// The first id of a list Kommo writes either as `[leads][0]=id` or as `[leads][0][id]=id`.
    static func firstID(_ value: FormValue?) -> Int64? {
        switch value {
        case .string(let text)?: Int64(text.trimmingASCIISpaces())
        case .map(let list)?:
            list.entries.lazy.compactMap { entry -> Int64? in
                entry.value.int64 ?? entry.value["id"]?.int64
            }.first
        case nil: nil
        }
    }

    /// `updated_at`, then `created_at`, then `last_modified`, then `date_create`: the first that reads
    /// as a date.
    static func occurredAt(for item: Item) -> Date? {
        for name in ["updated_at", "created_at", "last_modified", "date_create"] {
            if let text = item.field(name), let date = KommoTimestamp.parse(text) { return date }
        }
        return nil
    }

    // MARK: Fields

    /// Every scalar of the item as a string. Nested maps other than `custom_fields` are kept under
    /// their bracket path (`result[text]`, `author[name]`), because rules may want them and the body
    /// is the only copy; for notes, the inner `note` map is flattened to the top.
    static func flatFields(of item: Item) -> [String: String] {
        var fields: [String: String] = [:]
        func flatten(_ map: FormMap, prefix: String?) {
            for entry in map.entries {
                if prefix == nil, entry.key == "custom_fields" { continue }
                if prefix == nil, item.note != nil, entry.key == "note" { continue }
                let name = prefix.map { "\($0)[\(entry.key)]" } ?? entry.key
                switch entry.value {
                case .string(let text): fields[name] = text
                case .map(let child): flatten(child, prefix: name)
                }
            }
        }
        flatten(item.fields, prefix: nil)
        if let note = item.note { flatten(note, prefix: nil) }
        return fields
    }

    /// `custom_fields[i][id|name|code|values[j][value|enum]]`. A value may be bare
    /// (`values[0]=1729717200`, used for dates and checkboxes); for enum values the text `value` is
    /// kept, and the `enum` id only when there is no text.
    static func customFields(of item: Item) -> [CustomFieldValue] {
        guard let list = (item.fields["custom_fields"] ?? item.note?["custom_fields"])?.map else { return [] }
        return list.entries.compactMap { entry in
            guard let field = entry.value.map else { return nil }
            let values: [String]
            switch field["values"] {
            case .string(let text)?:
                values = [text]
            case .map(let list)?:
                values = list.entries.compactMap { value in
                    switch value.value {
                    case .string(let text): text
                    case .map(let parts): parts["value"]?.string ?? parts["enum"]?.string
                    }
                }
            case nil:
                values = []
            }
            return CustomFieldValue(
                id: field["id"]?.string ?? entry.key,
                name: field["name"]?.string ?? "",
                code: field["code"]?.string ?? "",
                values: values
            )
        }
    }

    /// The chat fields of a `message[add]` or `outgoing_message[add]` item; absent fields are empty
    /// strings. An outgoing message without `type` is `outgoing`.
    static func messageFields(of item: Item) -> MessageFields {
        var message = MessageFields()
        message.id = item.field("id") ?? ""
        message.text = item.field("text") ?? ""
        message.chatID = item.field("chat_id") ?? ""
        message.talkID = item.field("talk_id") ?? ""
        message.contactID = item.field("contact_id") ?? ""
        message.origin = item.field("origin") ?? ""
        message.messageType = item.field("message_type") ?? ""
        message.direction = item.field("type") ?? ""
        let author = item.fields["author"]
        message.authorID = author?["id"]?.string ?? ""
        message.authorType = author?["type"]?.string ?? ""
        message.authorName = author?["name"]?.string ?? ""
        if item.family == .outgoingMessage {
            if message.direction.isEmpty { message.direction = "outgoing" }
            message.authorKind = .outgoing(type: message.authorType, id: message.authorID)
        } else {
            message.authorKind = message.direction.lowercased() == "outgoing"
                ? .outgoing(type: message.authorType, id: message.authorID) : .client
        }
        let attachment = item.fields["attachment"]
        message.attachmentType = attachment?["type"]?.string ?? ""
        message.attachmentLink = attachment?["link"]?.string ?? ""
        message.attachmentFileName = attachment?["file_name"]?.string ?? ""
        return message
    }

    // MARK: Event ids

    /// `ev_` and 32 hex digits of a stable 128-bit hash of the item's dedup key.
    ///
    /// The key: tenant (so two tenants never collide), then for chat messages the message id alone,
    /// since Kommo resends a message with the same id; for everything else the account, family,
    /// action, event type, item id and `updated_at`/`last_modified`, plus the new stage for `status`
    /// and the new responsible for `responsible` (two moves within one second are two events). An item
    /// without an id is keyed by its position and full content, so it is still stable across retries.
    static func eventID(for item: Item, type: EventType, accountKey: String, tenantID: String) -> String {
        var hash = StableHash128()
        hash.combine(component: "kommo-webhook/1")
        hash.combine(component: tenantID)
        if item.family.isMessage, let messageID = item.nonEmpty("id") {
            hash.combine(component: "message")
            hash.combine(component: messageID)
            return "ev_" + hash.hex
        }
        hash.combine(component: accountKey)
        hash.combine(component: item.familyKey)
        hash.combine(component: item.action)
        hash.combine(component: type.rawValue)
        let id = itemID(for: item)
        if id.isEmpty {
            hash.combine(component: "#" + item.index)
            hash.combine(component: FormEncoder.encode(item.fields))
            return "ev_" + hash.hex
        }
        hash.combine(component: id)
        hash.combine(component: item.field("updated_at") ?? item.field("last_modified") ?? "")
        switch item.action {
        case "status":
            hash.combine(component: item.field("status_id") ?? "")
            hash.combine(component: item.field("pipeline_id") ?? "")
        case "responsible":
            hash.combine(component: item.field("responsible_user_id") ?? "")
        default:
            break
        }
        return "ev_" + hash.hex
    }
}
