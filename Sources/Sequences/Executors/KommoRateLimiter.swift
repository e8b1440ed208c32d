import Foundation
import Synchronization

// MARK: - Window

/// The admission rule of one account: at most `limit` requests start in any span of `window`.
///
/// This is a token bucket of `limit` tokens in which each spent token comes back exactly one `window`
/// after it was spent. A classic bucket (burst `limit`, refilled continuously at `limit` per window) lets
/// a full burst be followed by refilled tokens inside the same second, up to nearly twice the limit in a
/// sliding one-second window; Kommo counts requests per second and blocks integrations that keep
/// exceeding it, so the stricter rule is the one that matters.
///
/// Admission is recorded at the instant a caller is let through, not at an instant reserved for it in
/// advance: a caller that wakes up late (a busy machine) then cannot bunch up with the next group.
package struct RequestWindow: Sendable, Hashable {
    /// Requests allowed per window (also the largest burst).
    package let limit: Int
    /// The span the limit applies to.
    package let window: Duration
    /// Instants of the admissions still inside the window, ascending, as offsets from the limiter's origin.
    private var admissions: [Duration] = []
    /// No request starts before this instant (set when the server answered 429).
    private var pausedUntil: Duration = .zero

    /// A window admitting `limit` requests per `window`.
    package init(limit: Int, window: Duration) {
        self.limit = max(1, limit)
        self.window = window
    }

    /// Admits a request at `now` and returns `nil`, or returns the instant to ask again. `now` must not
    /// go backwards between calls.
    package mutating func admit(at now: Duration) -> Duration? {
        if now < pausedUntil { return pausedUntil }
        if let stale = admissions.firstIndex(where: { $0 > now - window }) {
            admissions.removeFirst(stale)
        } else {
            admissions.removeAll()
        }
        guard admissions.count >= limit else {
            admissions.append(now)
            return nil
        }
        return admissions[admissions.count - limit] + window
    }

    /// Holds every later admission until `instant`.
    package mutating func pause(until instant: Duration) {
        pausedUntil = max(pausedUntil, instant)
    }
}

// MARK: - Limiter

/// Rate limits for Kommo accounts, shared by everything in the process that calls Kommo.
///
/// Keyed by account (the API base URL), so two tenants never slow each other down and all executors of
/// one account (tasks, notes, chat fields, Salesbot runs, reads) draw from the same allowance. Callers
/// wait for their turn; nothing fans out beyond the rate. A 429 pauses the whole account, since Kommo
/// would refuse every other caller too.
package final class KommoRateLimiter: Sendable {
    /// Limits applied to each account.
    package struct Configuration: Sendable, Hashable {
        /// Requests per window; Kommo allows 7 per second per integration.
        package var requestsPerWindow: Int
        /// The window.
        package var window: Duration
        /// Added to the window, because Kommo measures arrivals and requests that leave exactly one
        /// window apart can arrive less than one window apart after network jitter.
        package var safetyMargin: Duration

        /// Creates a configuration; the defaults are Kommo's limit.
        package init(requestsPerWindow: Int = 7, window: Duration = .seconds(1),
                     safetyMargin: Duration = .milliseconds(50)) {
            self.requestsPerWindow = requestsPerWindow
            self.window = window
            self.safetyMargin = safetyMargin
        }
    }

    /// The limits in force.
    package let configuration: Configuration
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private let windows = Mutex<[String: RequestWindow]>([:])

    /// Creates a limiter with no account seen yet.
    package init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.origin = clock.now
    }

    /// Waits until a request to the account `key` may start.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    package func acquire(_ key: String) async throws {
        while true {
            // The clock is read under the lock so that admissions are recorded in time order.
            let retryAt: Duration? = windows.withLock { windows in
                var window = windows[key] ?? makeWindow()
                let retryAt = window.admit(at: clock.now - origin)
                windows[key] = window
                return retryAt
            }
            guard let retryAt else { return }
            try await Task.sleep(until: origin + retryAt, clock: clock)
        }
    }

    /// Lets no request to `key` start for `duration` from now.
    package func pause(_ key: String, for duration: Duration) {
        let until = clock.now - origin + duration
        windows.withLock { windows in
            var window = windows[key] ?? makeWindow()
            window.pause(until: until)
            windows[key] = window
        }
    }

    private func makeWindow() -> RequestWindow {
        RequestWindow(limit: configuration.requestsPerWindow, window: configuration.window + configuration.safetyMargin)
    }
}
