import Wire

// The one place where the REST API's strings for closed sets meet the wire's enums. The JSON keeps
// the names it always had (`lead_created`, `pending`, `rules.evaluate`, …); a value a newer service
// sends and this gateway does not know appears as its number.

extension PB.Destination {
    /// The REST name: the service and method an event visits.
    var restName: String {
        switch self {
        case .rulesEvaluate: "rules.evaluate"
        case .sequencesOnEvent: "sequences.on_event"
        case .sequencesSchedule: "sequences.schedule"
        default: name
        }
    }
}

/// Reads the REST strings of closed sets; an empty string is "not given" (the enum's unspecified value).
enum WireNames {
    static func eventType(_ text: String, field: String) throws -> PB.EventType {
        try parse(text, field: field, as: PB.EventType.self, expected: "an event type (lead_created, stage_changed, message_received, …)")
    }

    static func origin(_ text: String, field: String) throws -> PB.EventOrigin {
        try parse(text, field: field, as: PB.EventOrigin.self, expected: "kommo, timer, manual or replay")
    }

    static func journeyStatus(_ text: String, field: String) throws -> PB.JourneyStatus {
        try parse(text, field: field, as: PB.JourneyStatus.self, expected: "pending, held, delivered, failed or skipped")
    }

    static func deliveryStatus(_ text: String, field: String) throws -> PB.DeliveryStatus {
        try parse(text, field: field, as: PB.DeliveryStatus.self, expected: "accepted, duplicate, unparsed or rejected")
    }

    static func replayMode(_ text: String, field: String) throws -> PB.ReplayMode {
        guard !text.isEmpty else { throw Problem.field(field, "must be dry_run or live") }
        return try parse(text, field: field, as: PB.ReplayMode.self, expected: "dry_run or live")
    }

    static func heldEvents(_ text: String) -> PB.HeldEvents? {
        text.isEmpty ? .dispatch : PB.HeldEvents(name: text)
    }

    private static func parse<Value: WireEnumName>(_ text: String, field: String, as: Value.Type, expected: String) throws -> Value {
        guard !text.isEmpty else { return Value.notGiven }
        guard let value = Value(name: text), value != Value.notGiven else { throw Problem.field(field, "must be \(expected)") }
        return value
    }
}

protocol WireEnumName: Equatable {
    init?(name: String)
    static var notGiven: Self { get }
}

extension PB.EventType: WireEnumName { static var notGiven: Self { .unspecified } }
extension PB.EventOrigin: WireEnumName { static var notGiven: Self { .unspecified } }
extension PB.JourneyStatus: WireEnumName { static var notGiven: Self { .unspecified } }
extension PB.DeliveryStatus: WireEnumName { static var notGiven: Self { .unspecified } }
extension PB.ReplayMode: WireEnumName { static var notGiven: Self { .unspecified } }
