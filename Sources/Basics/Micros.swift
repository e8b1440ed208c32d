import Foundation

// MARK: - Microseconds

// Every time the services store or send is a whole number of microseconds (since 1970 for an instant, of
// elapsed time for a duration), in an `Int64`. One rule turns finer values into microseconds everywhere:
// **round to the nearest microsecond, halves away from zero** (`FloatingPointRoundingRule
// .toNearestOrAwayFromZero`, the rule of `Double.rounded()`). Truncating instead would read back one
// microsecond early: a `Date` holds its time as a `Double` of seconds since 2001, so the microseconds it
// was made from often come back as …999.9999.

extension Date {
    /// Microseconds since 1970-01-01 UTC, rounded to the nearest (halves away from zero).
    package var unixMicros: Int64 {
        Int64((timeIntervalSince1970 * 1_000_000).rounded(.toNearestOrAwayFromZero))
    }

    /// The instant `unixMicros` microseconds after 1970-01-01 UTC; `Date(unixMicros: m).unixMicros == m`.
    package init(unixMicros: Int64) {
        self.init(timeIntervalSince1970: Double(unixMicros) / 1_000_000)
    }
}

extension Duration {
    /// The duration in whole microseconds, rounded to the nearest (halves away from zero); a duration
    /// beyond ±292,000 years is clamped to what an `Int64` holds.
    package var micros: Int64 {
        let (seconds, attoseconds) = components
        // `components` keeps both parts on the same side of zero, so the fraction rounds on its own.
        let fraction = attoseconds / 1_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000
        let rounded = fraction + (remainder >= 500_000_000_000 ? 1 : remainder <= -500_000_000_000 ? -1 : 0)
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (total, overflowed) = whole.addingReportingOverflow(rounded)
        return overflowed ? (seconds < 0 ? .min : .max) : total
    }

    /// The duration in milliseconds with its fraction, for latencies shown to people and in metrics.
    package var millis: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000 + Double(attoseconds) / 1e15
    }

    /// The duration in seconds with its fraction, for rates and metrics.
    package var fractionalSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
