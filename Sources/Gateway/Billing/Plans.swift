import Basics
import Foundation
import ServiceKit

// MARK: - Plans and their limits

/// What a plan allows. `nil` is unlimited.
package struct PlanLimits: Sendable, Equatable, Codable {
    package var agents: Int64?
    package var activeRules: Int64?
    package var activeSequences: Int64?
    package var activeEnrollments: Int64?
    package var aiRepliesPerMonth: Int64?
    package var messagesPerMonth: Int64?
    package var webhookEventsPerMonth: Int64?

    /// Every limit's name as the plans file and the API spell it, in the order they are shown.
    package static let names = ["agents", "active_rules", "active_sequences", "active_enrollments",
                                "ai_replies_per_month", "messages_per_month", "webhook_events_per_month"]

    package static let unlimited = PlanLimits()

    package init(agents: Int64? = nil, activeRules: Int64? = nil, activeSequences: Int64? = nil, activeEnrollments: Int64? = nil,
                 aiRepliesPerMonth: Int64? = nil, messagesPerMonth: Int64? = nil, webhookEventsPerMonth: Int64? = nil) {
        self.agents = agents; self.activeRules = activeRules; self.activeSequences = activeSequences
        self.activeEnrollments = activeEnrollments; self.aiRepliesPerMonth = aiRepliesPerMonth
        self.messagesPerMonth = messagesPerMonth; self.webhookEventsPerMonth = webhookEventsPerMonth
    }

    /// The limit by its name (see ``names``); `nil` when unlimited.
    package subscript(name name: String) -> Int64? {
        switch name {
        case "agents": agents
        case "active_rules": activeRules
        case "active_sequences": activeSequences
        case "active_enrollments": activeEnrollments
        case "ai_replies_per_month": aiRepliesPerMonth
        case "messages_per_month": messagesPerMonth
        case "webhook_events_per_month": webhookEventsPerMonth
        default: nil
        }
    }

    /// Every limit is written, `null` when unlimited: a client never has to guess what an absent one means.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agents, forKey: .agents)
        try container.encode(activeRules, forKey: .activeRules)
        try container.encode(activeSequences, forKey: .activeSequences)
        try container.encode(activeEnrollments, forKey: .activeEnrollments)
        try container.encode(aiRepliesPerMonth, forKey: .aiRepliesPerMonth)
        try container.encode(messagesPerMonth, forKey: .messagesPerMonth)
        try container.encode(webhookEventsPerMonth, forKey: .webhookEventsPerMonth)
    }

    enum CodingKeys: String, CodingKey {
        case agents, activeRules = "active_rules", activeSequences = "active_sequences", activeEnrollments = "active_enrollments"
        case aiRepliesPerMonth = "ai_replies_per_month", messagesPerMonth = "messages_per_month"
        case webhookEventsPerMonth = "webhook_events_per_month"
    }
}

/// A plan a tenant can be on.
package struct Plan: Sendable, Equatable {
    package var id: String
    package var name: String
    /// The recurring Stripe price a subscription to this plan is made of; `nil` for a plan nobody pays for.
    package var stripePriceID: String?
    package var limits: PlanLimits
}

/// The plans of the deployment, read from the plans file (`--billing-plans`) and checked strictly at
/// startup: a typo in a limit must stop the gateway, not make a tenant unlimited.
package struct PlanCatalog: Sendable, Equatable {
    package var plans: [Plan]
    /// The plan of a tenant without a subscription.
    package var defaultPlanID: String
    /// How long a `past_due` subscription keeps its plan before its sends are blocked.
    package var pastDueGrace: Duration
    /// Stripe Billing Meter event names per usage ledger kind (`ai_reply`, `message_sent`).
    package var meters: [String: String]

    /// Billing off: one plan, every limit unlimited.
    package static let unlimited = PlanCatalog(
        plans: [Plan(id: "unlimited", name: "Unlimited", stripePriceID: nil, limits: .unlimited)],
        defaultPlanID: "unlimited", pastDueGrace: .seconds(7 * 86_400), meters: [:])

    package var defaultPlan: Plan { plans.first { $0.id == defaultPlanID }! }

    package func plan(id: String) -> Plan? { plans.first { $0.id == id } }

    package func plan(priceID: String) -> Plan? { plans.first { $0.stripePriceID == priceID } }

    /// Reads and checks a plans file.
    package static func load(path: String) throws -> PlanCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("--billing-plans (BILLING_PLANS): cannot read \(path)")
        }
        return try parse(data, source: path)
    }

    /// Parses a plans document. Every problem is named with its place in the file.
    package static func parse(_ data: Data, source: String) throws -> PlanCatalog {
        func fail(_ message: String) -> ConfigurationError { ConfigurationError("plans file \(source): \(message)") }
        guard let root = JSONValue(parsing: data), let object = root.object else { throw fail("not a JSON object") }
        try checkKeys(object, allowed: ["default_plan", "past_due_grace_days", "meters", "plans"], at: "top level", fail)
        guard let plansJSON = object["plans"]?.array, !plansJSON.isEmpty else { throw fail("`plans` must be a non-empty array") }
        guard plansJSON.count <= 50 else { throw fail("at most 50 plans") }
        var plans: [Plan] = []
        for (index, entry) in plansJSON.enumerated() {
            let at = "plans[\(index)]"
            guard let plan = entry.object else { throw fail("\(at) must be an object") }
            try checkKeys(plan, allowed: ["id", "name", "stripe_price_id", "limits"], at: at, fail)
            guard let id = text(plan["id"]), id.range(of: "^[a-z][a-z0-9_-]{0,39}$", options: .regularExpression) != nil else {
                throw fail("\(at).id must be 1–40 of a-z, 0-9, _ and -, starting with a letter")
            }
            guard !plans.contains(where: { $0.id == id }) else { throw fail("\(at).id \(id) is used twice") }
            guard let name = text(plan["name"]), !name.isEmpty, name.count <= 80 else { throw fail("\(at).name must be 1–80 characters") }
            var price: String?
            switch plan["stripe_price_id"] {
            case nil, .null?: price = nil
            case .string(let text)?:
                guard text.hasPrefix("price_"), text.count <= 255 else { throw fail("\(at).stripe_price_id must be a Stripe price id (price_…)") }
                guard !plans.contains(where: { $0.stripePriceID == text }) else { throw fail("\(at).stripe_price_id \(text) is used by another plan") }
                price = text
            default: throw fail("\(at).stripe_price_id must be a string or null")
            }
            guard let limitsJSON = plan["limits"]?.object else { throw fail("\(at).limits must be an object") }
            try checkKeys(limitsJSON, allowed: Set(PlanLimits.names), at: "\(at).limits", fail)
            var values: [String: Int64?] = [:]
            for limit in PlanLimits.names {
                switch limitsJSON[limit] {
                case nil: throw fail("\(at).limits.\(limit) is missing (a whole number ≥ 0, or null for unlimited)")
                case .null?: values[limit] = .some(nil)
                case let value?:
                    guard case .int(let number) = value, number >= 0 else {
                        throw fail("\(at).limits.\(limit) must be a whole number ≥ 0, or null for unlimited")
                    }
                    values[limit] = .some(number)
                }
            }
            plans.append(Plan(id: id, name: name, stripePriceID: price, limits: PlanLimits(
                agents: values["agents"]!, activeRules: values["active_rules"]!, activeSequences: values["active_sequences"]!,
                activeEnrollments: values["active_enrollments"]!, aiRepliesPerMonth: values["ai_replies_per_month"]!,
                messagesPerMonth: values["messages_per_month"]!, webhookEventsPerMonth: values["webhook_events_per_month"]!)))
        }
        guard let defaultID = text(object["default_plan"]) else { throw fail("`default_plan` must name a plan") }
        guard let defaultPlan = plans.first(where: { $0.id == defaultID }) else { throw fail("`default_plan` \(defaultID) is not a plan of the file") }
        guard defaultPlan.stripePriceID == nil else { throw fail("the default plan \(defaultID) must have no stripe_price_id: it is the plan without a subscription") }
        var grace = Duration.seconds(7 * 86_400)
        if let value = object["past_due_grace_days"] {
            guard case .int(let days) = value, (0...60).contains(days) else { throw fail("`past_due_grace_days` must be a whole number 0…60") }
            grace = .seconds(days * 86_400)
        }
        var meters: [String: String] = [:]
        if let value = object["meters"] {
            guard let map = value.object else { throw fail("`meters` must be an object of usage kind → Stripe meter event name") }
            try checkKeys(map, allowed: ["ai_reply", "message_sent"], at: "meters", fail)
            for (kind, name) in map {
                guard let text = text(name), text.range(of: "^[A-Za-z0-9_.:-]{1,100}$", options: .regularExpression) != nil else {
                    throw fail("meters.\(kind) must be a Stripe meter event name (1–100 of A-Z, a-z, 0-9, _ . : -)")
                }
                meters[kind] = text
            }
        }
        return PlanCatalog(plans: plans, defaultPlanID: defaultID, pastDueGrace: grace, meters: meters)
    }

    /// A JSON string only (JSONValue's `string` also spells numbers, which a plans file must not mix in).
    private static func text(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value { text } else { nil }
    }

    private static func checkKeys(_ object: [String: JSONValue], allowed: Set<String>, at place: String,
                                  _ fail: (String) -> ConfigurationError) throws {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail("unknown key `\(unknown)` at \(place) (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }
}
