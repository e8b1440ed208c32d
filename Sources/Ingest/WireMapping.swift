import Domain
import Foundation
import ServiceKit
import Wire

// The one mapping between ingest's wire messages and its domain records. The store speaks
// `StoredEvent`, `DeliveryStatus`, `JourneyStatus` and `Destination`; the server and the dispatcher
// turn them into protobuf messages here, and nowhere else.

// MARK: - Events

extension PB.Event {
    /// The event as it travels to rules-service and sequence-service.
    package init(_ stored: StoredEvent) {
        self.init(stored.event)
        deliveryId = stored.deliveryID
        replayScope = stored.replayScope
    }
}

extension StoredEvent {
    /// An internal event as a caller sent it.
    package init(_ wire: PB.Event) {
        self.init(event: KommoEvent(wire), deliveryID: wire.deliveryId, replayScope: wire.replayScope)
    }
}

// MARK: - Closed sets

/// A wire enum with value names and an `unspecified` value (generated code gives every enum both).
protocol NamedWireEnum {
    init?(name: String)
    var name: String { get }
    static var unspecified: Self { get }
}

/// A closed set of the store whose raw values are the names of `WireValue`'s values.
protocol WireNamedSet: RawRepresentable where RawValue == String {
    associatedtype WireValue: NamedWireEnum
}

extension NamedWireEnum {
    /// The wire value named like `value`; `unspecified` for one the wire enum does not name.
    init<Value: WireNamedSet>(_ value: Value) where Value.WireValue == Self {
        self = Self(name: value.rawValue) ?? .unspecified
    }
}

extension WireNamedSet {
    /// Nil for `unspecified` (no filter) and numbers this build does not know.
    init?(_ value: WireValue) {
        self.init(rawValue: value.name)
    }
}

extension PB.DeliveryStatus: NamedWireEnum {}
extension PB.JourneyStatus: NamedWireEnum {}
extension DeliveryStatus: WireNamedSet { typealias WireValue = PB.DeliveryStatus }
extension JourneyStatus: WireNamedSet { typealias WireValue = PB.JourneyStatus }

extension PB.Destination {
    package init(_ destination: Destination) {
        switch destination {
        case .evaluate: self = .rulesEvaluate
        case .onEvent: self = .sequencesOnEvent
        case .schedule: self = .sequencesSchedule
        }
    }
}

extension PB.ReplayMode {
    /// A replay without a mode is a dry run.
    var isLive: Bool { self == .live }
}
