import Basics
import Foundation

/// How an executor retries one HTTP request: how often, how long it waits between tries, and how long it
/// is willing to honour a server's "retry after".
///
/// The defaults suit production; tests pass milliseconds so retries cost nothing.
package struct RetryPolicy: Sendable, Hashable {
    /// Attempts in total, the first included; at least 1.
    package var maxAttempts: Int
    /// Wait before the second attempt; doubles for each further one.
    package var initialBackoff: Duration
    /// Ceiling of the doubling wait.
    package var maxBackoff: Duration
    /// Fraction (0...1) of each wait that is random, so that many callers failing together do not retry
    /// in lockstep and hit the recovering server at the same instant.
    package var jitter: Double
    /// Longest `retry_after` / `Retry-After` honoured in place. Kommo asks for up to 300 s; a longer ask is
    /// cut to this, so one action cannot hold a worker for an unbounded time.
    package var maxRetryAfter: Duration

    /// Creates a policy.
    package init(
        maxAttempts: Int = 4, initialBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(30),
        jitter: Double = 0.25, maxRetryAfter: Duration = .seconds(300)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = min(max(jitter, 0), 1)
        self.maxRetryAfter = maxRetryAfter
    }

    /// One attempt, no retries.
    package static let once = RetryPolicy(maxAttempts: 1)

    /// The waits between attempts: `initialBackoff` doubling to at most `maxBackoff`, the `jitter`
    /// fraction of each random.
    package var backoff: RetryBackoff {
        RetryBackoff(initial: initialBackoff, maximum: maxBackoff, multiplier: 2, jitter: jitter)
    }

    /// The wait after failed attempt number `attempt` (1-based): `initialBackoff · 2^(attempt-1)`, capped
    /// at `maxBackoff`, of which the `jitter` fraction is replaced by a random share.
    package func backoff(afterAttempt attempt: Int) -> Duration {
        backoff.delay(afterAttempt: attempt)
    }

    /// A server's requested wait, capped at ``maxRetryAfter``.
    package func honouring(retryAfter: Duration) -> Duration {
        min(max(retryAfter, .zero), maxRetryAfter)
    }
}
