import Domain
import Foundation

// MARK: - Condition tree

/// A condition tree: `all` / `any` / `not` groups over leaves.
///
/// JSON: a node is an object with exactly one of these keys:
///
/// ```json
/// {"all": [ … ]}            every child holds (short-circuits at the first that does not)
/// {"any": [ … ]}            at least one child holds
/// {"not": { … }}            the child does not hold
/// {"type": "field_value", "field": "cf.Budget", "operator": "equals", "value": "2500-5000"}
/// ```
///
/// Leaves, by `type`:
/// - `field_value`: `field` (see `FieldRef`), `operator` (see `FieldOperator`), `value` or `values`.
/// - `time_elapsed`: `anchor`, `operator` (`gt`, `gte`, `lt`, `lte`), `seconds`.
/// - `stage_is`: `stage_ids`, optional `pipeline_id`. `pipeline_is`: `pipeline_ids`.
/// - `message_text`: `operator` `contains_any` with `keywords`, or `matches` with `pattern`; case- and
///   accent-insensitive, against this event's message or else the lead's last incoming one.
/// - `message_origin`: `origins` (`waba`, `telegram`, `instagram`, `onlinechat`, …).
/// - `within_working_hours`: optional `hours` (see `WorkingHours`); the agent's hours otherwise.
/// - `responsible_user_is`: `user_ids`.
/// - `inbound_message_count`: `operator` (`equals`, `not_equals`, `gt`, `gte`, `lt`, `lte`), `count`.
package indirect enum Condition: Sendable, Hashable, Codable {
    /// Every child holds.
    case all([Condition])
    /// At least one child holds.
    case any([Condition])
    /// The child does not hold.
    case not(Condition)
    /// A lead, contact or custom field compared with a value.
    case fieldValue(FieldValueCondition)
    /// Time since an anchor compared with a duration.
    case timeElapsed(TimeElapsedCondition)
    /// The lead is in one of the stages.
    case stageIs(StageCondition)
    /// The lead is in one of the pipelines.
    case pipelineIs(PipelineCondition)
    /// The message text contains a keyword or matches a pattern.
    case messageText(MessageTextCondition)
    /// The message came through one of the channels.
    case messageOrigin(MessageOriginCondition)
    /// Now is inside working hours.
    case withinWorkingHours(WorkingHoursCondition)
    /// The lead's responsible user is one of these.
    case responsibleUserIs(ResponsibleUserCondition)
    /// How many incoming messages the lead has sent.
    case inboundMessageCount(InboundCountCondition)

    /// The leaf type, or `nil` for groups.
    package var kind: ConditionKind? {
        switch self {
        case .all, .any, .not: nil
        case .fieldValue: .fieldValue
        case .timeElapsed: .timeElapsed
        case .stageIs: .stageIs
        case .pipelineIs: .pipelineIs
        case .messageText: .messageText
        case .messageOrigin: .messageOrigin
        case .withinWorkingHours: .withinWorkingHours
        case .responsibleUserIs: .responsibleUserIs
        case .inboundMessageCount: .inboundMessageCount
        }
    }

    private enum NodeKeys: String, CodingKey, CaseIterable {
        case all, any, not, type
    }

    /// Decodes a node, insisting on exactly one of `all`, `any`, `not`, `type` so that a typo cannot
    /// silently turn a group into something else.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: NodeKeys.self)
        let present = NodeKeys.allCases.filter { c.contains($0) }
        guard present.count == 1, let key = present.first else {
            let found = present.isEmpty ? "none" : present.map(\.rawValue).joined(separator: " and ")
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "a condition needs exactly one of \"all\", \"any\", \"not\" or \"type\"; found \(found)"
            ))
        }
        switch key {
        case .all: self = .all(try c.decode([Condition].self, forKey: .all))
        case .any: self = .any(try c.decode([Condition].self, forKey: .any))
        case .not: self = .not(try c.decode(Condition.self, forKey: .not))
        case .type:
            // The leaf's own keys sit next to `type`, so the leaf decodes from the same decoder and its
            // errors carry this node's path (`conditions.all[1].operator`).
            switch try c.decode(ConditionKind.self, forKey: .type) {
            case .fieldValue: self = .fieldValue(try FieldValueCondition(from: decoder))
            case .timeElapsed: self = .timeElapsed(try TimeElapsedCondition(from: decoder))
            case .stageIs: self = .stageIs(try StageCondition(from: decoder))
            case .pipelineIs: self = .pipelineIs(try PipelineCondition(from: decoder))
            case .messageText: self = .messageText(try MessageTextCondition(from: decoder))
            case .messageOrigin: self = .messageOrigin(try MessageOriginCondition(from: decoder))
            case .withinWorkingHours: self = .withinWorkingHours(try WorkingHoursCondition(from: decoder))
            case .responsibleUserIs: self = .responsibleUserIs(try ResponsibleUserCondition(from: decoder))
            case .inboundMessageCount: self = .inboundMessageCount(try InboundCountCondition(from: decoder))
            }
        }
    }

    /// Encodes the node in the shape `init(from:)` reads.
    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: NodeKeys.self)
        switch self {
        case .all(let children): try c.encode(children, forKey: .all)
        case .any(let children): try c.encode(children, forKey: .any)
        case .not(let child): try c.encode(child, forKey: .not)
        case .fieldValue(let leaf): try c.encode(ConditionKind.fieldValue, forKey: .type); try leaf.encode(to: encoder)
        case .timeElapsed(let leaf): try c.encode(ConditionKind.timeElapsed, forKey: .type); try leaf.encode(to: encoder)
        case .stageIs(let leaf): try c.encode(ConditionKind.stageIs, forKey: .type); try leaf.encode(to: encoder)
        case .pipelineIs(let leaf): try c.encode(ConditionKind.pipelineIs, forKey: .type); try leaf.encode(to: encoder)
        case .messageText(let leaf): try c.encode(ConditionKind.messageText, forKey: .type); try leaf.encode(to: encoder)
        case .messageOrigin(let leaf): try c.encode(ConditionKind.messageOrigin, forKey: .type); try leaf.encode(to: encoder)
        case .withinWorkingHours(let leaf): try c.encode(ConditionKind.withinWorkingHours, forKey: .type); try leaf.encode(to: encoder)
        case .responsibleUserIs(let leaf): try c.encode(ConditionKind.responsibleUserIs, forKey: .type); try leaf.encode(to: encoder)
        case .inboundMessageCount(let leaf): try c.encode(ConditionKind.inboundMessageCount, forKey: .type); try leaf.encode(to: encoder)
        }
    }
}

/// The leaf types of a condition tree (the `type` key).
package enum ConditionKind: String, RuleKeyword {
    /// See `FieldValueCondition`.
    case fieldValue = "field_value"
    /// See `TimeElapsedCondition`.
    case timeElapsed = "time_elapsed"
    /// See `StageCondition`.
    case stageIs = "stage_is"
    /// See `PipelineCondition`.
    case pipelineIs = "pipeline_is"
    /// See `MessageTextCondition`.
    case messageText = "message_text"
    /// See `MessageOriginCondition`.
    case messageOrigin = "message_origin"
    /// See `WorkingHoursCondition`.
    case withinWorkingHours = "within_working_hours"
    /// See `ResponsibleUserCondition`.
    case responsibleUserIs = "responsible_user_is"
    /// See `InboundCountCondition`.
    case inboundMessageCount = "inbound_message_count"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "condition type" }
}

// MARK: - Operators

/// Comparison operators of `field_value` (all of them), `time_elapsed` and `inbound_message_count` (subsets).
///
/// Text comparisons ignore case, accents and surrounding spaces; `equals`/`in` compare numerically when both
/// sides are numbers (`"2500"` equals `"2500.0"`). `gt`/`gte`/`lt`/`lte` need numbers on both sides.
/// `changed` holds when this event carries the field with a value different from the last one seen; a field
/// never seen before counts as changed when the event gives it a non-empty value.
package enum FieldOperator: String, RuleKeyword {
    /// Same value (numerically when both are numbers); false when the field is not set.
    case equals
    /// Not the same value; true when the field is not set.
    case notEquals = "not_equals"
    /// The value contains `value`.
    case contains
    /// The value does not contain `value`; true when the field is not set.
    case notContains = "not_contains"
    /// The value starts with `value`.
    case startsWith = "starts_with"
    /// The value matches the regular expression `value` (bounded: see `BoundedPattern`).
    case matches
    /// Greater than (numbers).
    case gt
    /// Greater than or equal (numbers).
    case gte
    /// Less than (numbers).
    case lt
    /// Less than or equal (numbers).
    case lte
    /// The value is one of `values`.
    case `in`
    /// The value is none of `values`; true when the field is not set.
    case notIn = "not_in"
    /// The field is not set or blank.
    case isEmpty = "is_empty"
    /// The field has a non-blank value.
    case isNotEmpty = "is_not_empty"
    /// This event changed the field.
    case changed
    /// This event changed the field to `value`.
    case changedTo = "changed_to"
    /// This event changed the field from `value`.
    case changedFrom = "changed_from"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "operator" }

    /// Operators that compare two numbers.
    package static let ordering: Set<FieldOperator> = [.gt, .gte, .lt, .lte]
    /// Operators that take `values` instead of `value`.
    package static let listOperators: Set<FieldOperator> = [.in, .notIn]
    /// Operators that take no value.
    package static let unary: Set<FieldOperator> = [.isEmpty, .isNotEmpty, .changed]
    /// Operators allowed for counts.
    package static let counting: Set<FieldOperator> = [.equals, .notEquals, .gt, .gte, .lt, .lte]
}

/// How `message_text` matches.
package enum TextMatch: String, RuleKeyword {
    /// The text contains at least one of `keywords`.
    case containsAny = "contains_any"
    /// The text matches `pattern`.
    case matches

    /// Names the word in decoding errors.
    package static var keywordKind: String { "operator" }
}

// MARK: - Leaves

/// `field_value`: a lead, contact or custom field compared with `value` (or `values` for `in`/`not_in`).
package struct FieldValueCondition: Sendable, Hashable, Codable {
    /// The field reference, e.g. `price`, `cf.Budget`, `cf.123456`, `contact.cf.Email` (see `FieldRef`).
    package var field: String
    /// The comparison.
    package var op: FieldOperator
    /// The value to compare with; a regular expression for `matches`.
    package var value: String?
    /// The accepted values for `in` / `not_in`.
    package var values: [String]?

    /// Creates the leaf.
    package init(field: String, op: FieldOperator, value: String? = nil, values: [String]? = nil) {
        self.field = field; self.op = op; self.value = value; self.values = values
    }

    private enum CodingKeys: String, CodingKey { case field, op = "operator", value, values }

    /// Decodes the leaf; `value` accepts numbers and booleans as well as strings.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        field = try c.decode(String.self, forKey: .field)
        op = try c.decode(FieldOperator.self, forKey: .op)
        value = try c.decodeLooseStringIfPresent(forKey: .value)
        values = try c.decodeLooseStringsIfPresent(forKey: .values)
    }
}

/// `time_elapsed`: the time since `anchor`, compared with `seconds`.
package struct TimeElapsedCondition: Sendable, Hashable, Codable {
    /// What the time is measured from.
    package var anchor: TimeAnchor
    /// `gt`, `gte`, `lt` or `lte`.
    package var op: FieldOperator
    /// The duration to compare with.
    package var seconds: Int

    /// Creates the leaf.
    package init(anchor: TimeAnchor, op: FieldOperator, seconds: Int) {
        self.anchor = anchor; self.op = op; self.seconds = seconds
    }

    private enum CodingKeys: String, CodingKey { case anchor, op = "operator", seconds }
}

/// `stage_is`: the lead's current stage is one of `stageIDs` (and its pipeline is `pipelineID`, if given).
package struct StageCondition: Sendable, Hashable, Codable {
    /// The pipeline the stages belong to; also required of the lead when given.
    package var pipelineID: Int64?
    /// Accepted stages.
    package var stageIDs: [Int64]

    /// Creates the leaf.
    package init(pipelineID: Int64? = nil, stageIDs: [Int64]) { self.pipelineID = pipelineID; self.stageIDs = stageIDs }

    private enum CodingKeys: String, CodingKey { case pipelineID = "pipeline_id", stageIDs = "stage_ids" }
}

/// `pipeline_is`: the lead's pipeline is one of `pipelineIDs`.
package struct PipelineCondition: Sendable, Hashable, Codable {
    /// Accepted pipelines.
    package var pipelineIDs: [Int64]

    /// Creates the leaf.
    package init(pipelineIDs: [Int64]) { self.pipelineIDs = pipelineIDs }

    private enum CodingKeys: String, CodingKey { case pipelineIDs = "pipeline_ids" }
}

/// `message_text`: case- and accent-insensitive match on the message text.
package struct MessageTextCondition: Sendable, Hashable, Codable {
    /// `contains_any` or `matches`.
    package var op: TextMatch
    /// For `contains_any`: the text must contain at least one.
    package var keywords: [String]?
    /// For `matches`: a regular expression.
    package var pattern: String?

    /// Creates the leaf.
    package init(op: TextMatch, keywords: [String]? = nil, pattern: String? = nil) {
        self.op = op; self.keywords = keywords; self.pattern = pattern
    }

    private enum CodingKeys: String, CodingKey { case op = "operator", keywords, pattern }
}

/// `message_origin`: the message came through one of `origins` (`waba`, `telegram`, …), compared ignoring case.
package struct MessageOriginCondition: Sendable, Hashable, Codable {
    /// Accepted channels.
    package var origins: [String]

    /// Creates the leaf.
    package init(origins: [String]) { self.origins = origins }
}

/// `within_working_hours`: the evaluation time is inside `hours`, or the agent's hours when absent.
/// An agent without working hours works around the clock. Wrap in `not` for "outside working hours".
package struct WorkingHoursCondition: Sendable, Hashable, Codable {
    /// Hours that override the agent's.
    package var hours: WorkingHours?

    /// Creates the leaf.
    package init(hours: WorkingHours? = nil) { self.hours = hours }
}

/// `responsible_user_is`: the lead's responsible user is one of `userIDs`.
package struct ResponsibleUserCondition: Sendable, Hashable, Codable {
    /// Accepted Kommo user ids.
    package var userIDs: [Int64]

    /// Creates the leaf.
    package init(userIDs: [Int64]) { self.userIDs = userIDs }

    private enum CodingKeys: String, CodingKey { case userIDs = "user_ids" }
}

/// `inbound_message_count`: how many incoming messages the lead has sent, compared with `count`.
package struct InboundCountCondition: Sendable, Hashable, Codable {
    /// `equals`, `not_equals`, `gt`, `gte`, `lt` or `lte`.
    package var op: FieldOperator
    /// The number to compare with.
    package var count: Int

    /// Creates the leaf.
    package init(op: FieldOperator, count: Int) { self.op = op; self.count = count }

    private enum CodingKeys: String, CodingKey { case op = "operator", count }
}
