import Basics
import Foundation
import Synchronization

/// A token bucket per API key: `rate` requests per second with bursts up to `burst`. Over it, the
/// request is refused with 429 and how long to wait.
package final class KeyRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    let rate: Double
    let burst: Double

    package init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// Takes a token for `key`; returns nil when allowed, or the seconds to wait.
    package func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            bucket.tokens = min(burst, bucket.tokens + elapsed.fractionalSeconds * rate)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            // Buckets of keys that went quiet are dropped now and then, so the map stays small.
            if buckets.count > 10_000 { buckets = buckets.filter { now - $0.value.updated < .seconds(60) } }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }
}
