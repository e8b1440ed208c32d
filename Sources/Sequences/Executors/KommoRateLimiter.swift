import Foundation
import Synchronization

// MARK: - Window

/// The admission rule of one account: at most `limit` requests arrive at the server in any span of
/// `window`.
///
/// A token bucket of `limit` tokens in which a token comes back one `window` after the request that took
/// it **completed**. Two choices here differ from a textbook bucket, each for a reason:
///
/// - A classic bucket (burst `limit`, refilled continuously at `limit` per window) lets a full burst be
///   followed by refilled tokens inside the same second: nearly twice the limit in a sliding one-second
///   window. Kommo counts requests per second and blocks integrations that keep exceeding it.
/// - Counting from the moment a token is handed out is not enough either: on a busy machine a caller
///   may be let through and yet send late, next to the following group. A request reaches the server
///   before its response completes, so returning the token one window after completion guarantees the
///   spacing at the server, whatever the delays on our side, at the cost of some throughput.
package struct RequestWindow: Sendable, Hashable {
    /// What a caller should do.
    package enum Admission: Sendable, Hashable {
        /// Go ahead; call ``RequestWindow/release(at:)`` when the request has completed.
        case admitted
        /// Ask again at this instant.
        case retry(at: Duration)
    }

    /// Requests allowed per window (also the largest burst).
    package let limit: Int
    /// The span the limit applies to.
    package let window: Duration
    /// Requests admitted and not yet completed.
    private var inFlight = 0
    /// Completion instants still inside the window, ascending, as offsets from the limiter's origin.
    private var completions: [Duration] = []
    /// No request starts before this instant (set when the server answered 429).
    private var pausedUntil: Duration = .zero

    /// A window admitting `limit` requests per `window`.
    package init(limit: Int, window: Duration) {
        self.limit = max(1, limit)
        self.window = window
    }

    /// Whether a request may start at `now`; when admitted it counts as in flight. `now` must not go
    /// backwards between calls.
    package mutating func admit(at now: Duration) -> Admission {
        if now < pausedUntil { return .retry(at: pausedUntil) }
        completions.removeAll { $0 <= now - window }
        if inFlight + completions.count < limit {
            inFlight += 1
            return .admitted
        }
        // With every token in flight there is no known instant; look again soon.
        return .retry(at: completions.first.map { $0 + window } ?? now + window / 20)
    }

    /// Whether ``admit(at:)`` would admit a request at `now`, without taking a token: a batch waits for
    /// room before it chooses its items, so that items arriving during the wait still join it.
    package func room(at now: Duration) -> Admission {
        if now < pausedUntil { return .retry(at: pausedUntil) }
        let live = completions.filter { $0 > now - window }
        if inFlight + live.count < limit { return .admitted }
        return .retry(at: live.first.map { $0 + window } ?? now + window / 20)
    }

    /// Records that an admitted request completed at `now` (successfully or not).
    package mutating func release(at now: Duration) {
        inFlight = max(0, inFlight - 1)
        completions.append(now)
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
        /// Added to the window, for clock granularity on Kommo's side.
        package var safetyMargin: Duration

        /// Creates a configuration; the defaults are Kommo's limit.
        package init(requestsPerWindow: Int = 7, window: Duration = .seconds(1),
                     safetyMargin: Duration = .milliseconds(20)) {
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

    /// Runs `body` (one request to the account `key`) once the account's allowance admits it, and
    /// returns the token when it completes.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting; `body` is then not run.
    package func withPermit<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        try await acquire(key)
        do {
            let value = try await body()
            release(key)
            return value
        } catch {
            release(key)
            throw error
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

    /// Waits until a request to `key` would be admitted now, without taking its token.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    package func waitForRoom(_ key: String) async throws {
        while true {
            let room = windows.withLock { windows in
                (windows[key] ?? makeWindow()).room(at: clock.now - origin)
            }
            guard case .retry(let instant) = room else { return }
            try await Task.sleep(until: origin + instant, clock: clock)
        }
    }

    private func acquire(_ key: String) async throws {
        while true {
            // The clock is read under the lock so that instants are recorded in time order.
            let admission = windows.withLock { windows in
                var window = windows[key] ?? makeWindow()
                let admission = window.admit(at: clock.now - origin)
                windows[key] = window
                return admission
            }
            guard case .retry(let instant) = admission else { return }
            try await Task.sleep(until: origin + instant, clock: clock)
        }
    }

    private func release(_ key: String) {
        windows.withLock { windows in
            windows[key]?.release(at: clock.now - origin)
        }
    }

    private func makeWindow() -> RequestWindow {
        RequestWindow(limit: configuration.requestsPerWindow, window: configuration.window + configuration.safetyMargin)
    }
}
