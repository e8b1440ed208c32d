import Foundation
import Synchronization

/// The time seam: services read "now" from here, so delays, cooldowns and timers are tested by
/// advancing a clock instead of sleeping.
package protocol WallClock: Sendable {
    func now() -> Date
}

/// The real time.
package struct SystemClock: WallClock {
    package init() {}
    package func now() -> Date { Date() }
}

/// A clock that moves only when told to.
package final class ManualClock: WallClock {
    private let current: Mutex<Date>

    package init(_ start: Date = Date(timeIntervalSince1970: 1_764_072_000)) { current = Mutex(start) }

    package func now() -> Date { current.withLock { $0 } }

    package func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }

    package func set(_ date: Date) { current.withLock { $0 = date } }
}
