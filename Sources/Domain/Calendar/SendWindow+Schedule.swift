import Foundation

// MARK: - Checking and finding open times

extension SendWindow {
    /// Whether `date` falls inside the window: on one of ``days`` in the window's zone, with a local
    /// time in `start..<end`. Always `true` for an unusable window (unknown zone, no days, malformed or
    /// empty hours).
    package func contains(_ date: Date) -> Bool {
        guard let hours = WallClockWindow(self) else { return true }
        return hours.contains(date)
    }

    /// The earliest instant at or after `date` that is inside the window: `date` itself when it is
    /// inside, otherwise the next opening (e.g. Friday 18:00 → Monday 09:00).
    ///
    /// Daylight-saving changes are followed: the opening is 09:00 local time on either side of a change,
    /// and an opening time that a spring-forward skips (02:30 on the night clocks jump 02:00 → 03:00)
    /// opens at the first instant after the jump. The search is bounded (about two weeks), so it always
    /// terminates; an unusable window returns `date` unchanged.
    package func nextOpening(atOrAfter date: Date) -> Date {
        guard let hours = WallClockWindow(self) else { return date }
        return hours.nextOpening(atOrAfter: date)
    }
}

extension Optional where Wrapped == SendWindow {
    /// Whether `date` is inside the window; no window means always open.
    package func contains(_ date: Date) -> Bool {
        self?.contains(date) ?? true
    }

    /// The earliest instant at or after `date` inside the window; with no window, `date` itself.
    package func nextOpening(atOrAfter date: Date) -> Date {
        self?.nextOpening(atOrAfter: date) ?? date
    }
}

// MARK: - Wall-clock arithmetic

/// A usable ``SendWindow`` in a form for arithmetic.
///
/// The computation works on "local seconds": an instant plus the zone's UTC offset at that instant, so
/// that whole days of local time are multiples of 86 400 and the weekday is a remainder. Only
/// `TimeZone.secondsFromGMT(for:)` is needed from the zone data. Going the other way (a local time to an
/// instant) is where daylight saving bites: some local times happen twice, some never. Rather than rely on
/// `Calendar`'s policy for those, which answers "an instant for this local time" and not "the earliest
/// instant at or after this one whose local time is in the window", the search below assumes the offset
/// holds, checks that it did, and otherwise restarts from the instant the offset changed.
private struct WallClockWindow {
    let zone: TimeZone
    /// Open days by ISO index (Monday 0).
    let openDays: [Bool]
    /// Local seconds after midnight.
    let start: Double
    let end: Double

    private static let secondsPerDay = 86_400
    /// How far ahead to look: a weekly window opens within 7 days; the rest is slack for offset changes.
    private static let horizonDays = 15
    /// Each round of the search passes at most one offset change, and a fortnight has at most a couple.
    private static let maximumRounds = 8

    init?(_ window: SendWindow) {
        guard let zone = TimeZone(identifier: window.timeZone.trimmingCharacters(in: .whitespaces)),
              !window.days.isEmpty,
              let start = SendWindow.minutes(window.start, allowingEndOfDay: false),
              let end = SendWindow.minutes(window.end, allowingEndOfDay: true),
              start < end
        else { return nil }
        self.zone = zone
        var openDays = [Bool](repeating: false, count: 7)
        for day in window.days { openDays[day.isoIndex] = true }
        self.openDays = openDays
        self.start = Double(start * 60)
        self.end = Double(end * 60)
    }

    func contains(_ date: Date) -> Bool {
        let local = localSeconds(date, offset: offset(at: date))
        guard Self.isCalculable(local) else { return false }
        let day = dayNumber(local)
        let secondOfDay = local - Double(day * Self.secondsPerDay)
        return isOpen(day: day) && secondOfDay >= start && secondOfDay < end
    }

    func nextOpening(atOrAfter date: Date) -> Date {
        guard Self.isCalculable(date.timeIntervalSince1970), !contains(date) else { return date }
        let horizon = date.addingTimeInterval(Double(Self.horizonDays * Self.secondsPerDay))
        var from = date
        for _ in 0..<Self.maximumRounds {
            let assumed = offset(at: from)
            guard let candidate = earliestOpening(from: from, assumingOffset: assumed), candidate <= horizon else {
                return date
            }
            if offset(at: candidate) == assumed { return candidate }
            // The offset changed between `from` and `candidate`: the candidate was computed with the
            // wrong offset, so continue from the change with the new one.
            let change = firstOffsetChange(after: from, upTo: candidate, from: assumed)
            guard change > from else { return date }
            from = change
        }
        return date
    }

    // MARK: Helpers

    /// Whether day arithmetic on these seconds stays within `Int`: anything within millions of years,
    /// which includes `Date.distantPast` and `Date.distantFuture`, but not infinities or NaN.
    private static func isCalculable(_ seconds: Double) -> Bool {
        seconds.isFinite && abs(seconds) < 1e14
    }

    private func offset(at date: Date) -> Int {
        zone.secondsFromGMT(for: date)
    }

    private func localSeconds(_ date: Date, offset: Int) -> Double {
        date.timeIntervalSince1970 + Double(offset)
    }

    private func dayNumber(_ local: Double) -> Int {
        Int((local / Double(Self.secondsPerDay)).rounded(.down))
    }

    /// 1970-01-01 was a Thursday (ISO index 3).
    private func isOpen(day: Int) -> Bool {
        openDays[((day % 7) + 7 + 3) % 7]
    }

    /// The earliest instant at or after `from` inside the window if the UTC offset stayed `offset`.
    private func earliestOpening(from: Date, assumingOffset offset: Int) -> Date? {
        let local = localSeconds(from, offset: offset)
        let firstDay = dayNumber(local)
        for day in firstDay...(firstDay + Self.horizonDays) where isOpen(day: day) {
            let midnight = Double(day * Self.secondsPerDay)
            if local < midnight + end {
                return Date(timeIntervalSince1970: max(local, midnight + start) - Double(offset))
            }
        }
        return nil
    }

    /// The first whole second in `(from, upTo]` at which the offset is no longer `offset`. Zone data puts
    /// changes on whole seconds, so a binary search over seconds finds the exact instant.
    private func firstOffsetChange(after from: Date, upTo limit: Date, from offset: Int) -> Date {
        var low = from.timeIntervalSince1970.rounded(.down)
        var high = limit.timeIntervalSince1970.rounded(.up)
        while high - low > 1 {
            let middle = ((low + high) / 2).rounded(.down)
            if self.offset(at: Date(timeIntervalSince1970: middle)) == offset {
                low = middle
            } else {
                high = middle
            }
        }
        return Date(timeIntervalSince1970: high)
    }
}
