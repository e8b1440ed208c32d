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

extension PB.DeliveryStatus {
    package init(_ status: DeliveryStatus) {
        self = PB.DeliveryStatus(name: status.rawValue) ?? .unspecified
    }
}

extension DeliveryStatus {
    /// Nil for `unspecified` (no filter) and numbers this build does not know.
    package init?(_ status: PB.DeliveryStatus) {
        self.init(rawValue: status.name)
    }
}

extension PB.JourneyStatus {
    package init(_ status: JourneyStatus) {
        self = PB.JourneyStatus(name: status.rawValue) ?? .unspecified
    }
}

extension JourneyStatus {
    /// Nil for `unspecified` (no filter) and numbers this build does not know.
    package init?(_ status: PB.JourneyStatus) {
        self.init(rawValue: status.name)
    }
}

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
