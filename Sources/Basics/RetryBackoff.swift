import Foundation

// MARK: - Retry backoff

/// How long to wait before trying again: capped exponential growth with jitter.
///
/// The wait after failed attempt `n` (1-based) is `initial · multiplier^(n-1)`, capped at `maximum`; then
/// the `jitter` fraction of it is replaced by a random share, so it lies in
/// `[capped · (1 − jitter), capped]`. The cap is a true ceiling (a caller can promise "at most five
/// minutes"), and callers that failed together do not retry in step.
package struct RetryBackoff: Sendable, Hashable {
    /// Wait after the first failed attempt (before jitter).
    package var initial: Duration
    /// Ceiling of every wait.
    package var maximum: Duration
    /// Growth per further failure; at least 1.
    package var multiplier: Double
    /// Fraction (0...1) of each wait that is random; 0 makes the waits exact.
    package var jitter: Double

    package init(initial: Duration, maximum: Duration, multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = max(initial, .zero)
        self.maximum = max(maximum, .zero)
        self.multiplier = max(multiplier, 1)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The wait after failed attempt number `attempt` (1-based; 0 and below count as 1).
    package func delay(afterAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }

    /// The wait after failed attempt number `attempt`, its random share drawn from `generator`.
    package func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        delay(afterAttempt: attempt, share: jitter > 0 ? Double.random(in: 0...1, using: &generator) : 1)
    }

    /// The wait after failed attempt number `attempt` for a given random `share` (0...1): 0 gives the
    /// shortest wait, 1 the ceiling.
    package func delay(afterAttempt attempt: Int, share: Double) -> Duration {
        let capped = ceiling(afterAttempt: attempt)
        return capped * (1 - jitter) + capped * (jitter * min(max(share, 0), 1))
    }

    /// The wait after failed attempt `attempt` before jitter: the most it can be.
    package func ceiling(afterAttempt attempt: Int) -> Duration {
        let first = min(initial, maximum)
        guard attempt > 1, multiplier > 1, first > .zero else { return first }
        // Compared as a ratio, so a large attempt number cannot overflow the duration.
        let growth = pow(multiplier, Double(min(attempt - 1, 4096)))
        return growth >= maximum / first ? maximum : min(first * growth, maximum)
    }
}
