import Basics
import Testing

/// Draws from a fixed sequence, so the extremes of the jitter are reached on purpose.
struct FixedRandom: RandomNumberGenerator {
    var values: [UInt64]
    var index = 0
    mutating func next() -> UInt64 {
        defer { index += 1 }
        return values[index % values.count]
    }
}

@Suite("RetryBackoff")
struct RetryBackoffTests {
    @Test("the wait doubles from the initial one and stops at the maximum")
    func growsToCeiling() {
        let backoff = RetryBackoff(initial: .milliseconds(500), maximum: .seconds(300), jitter: 0)
        #expect(backoff.delay(afterAttempt: 1) == .milliseconds(500))
        #expect(backoff.delay(afterAttempt: 2) == .seconds(1))
        #expect(backoff.delay(afterAttempt: 4) == .seconds(4))
        #expect(backoff.delay(afterAttempt: 10) == .seconds(256))
        #expect(backoff.delay(afterAttempt: 11) == .seconds(300))
        #expect(backoff.delay(afterAttempt: .max) == .seconds(300))
        #expect(backoff.delay(afterAttempt: 0) == .milliseconds(500))
        #expect(backoff.delay(afterAttempt: -3) == .milliseconds(500))
    }

    @Test("with jitter every wait lies in [ceiling · (1 − jitter), ceiling], and the waits differ")
    func jitterBounds() {
        let backoff = RetryBackoff(initial: .seconds(2), maximum: .seconds(60), jitter: 0.2)
        for attempt in 1...8 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            var seen: Set<Duration> = []
            for _ in 0..<200 {
                let wait = backoff.delay(afterAttempt: attempt)
                #expect(wait >= ceiling * 0.8 && wait <= ceiling, "attempt \(attempt): \(wait)")
                seen.insert(wait)
            }
            #expect(seen.count > 1)
        }
        #expect(backoff.ceiling(afterAttempt: 6) == .seconds(60))
    }

    @Test("the extremes of the random share reach both bounds exactly")
    func jitterExtremes() {
        let backoff = RetryBackoff(initial: .seconds(10), maximum: .seconds(10), jitter: 0.5)
        #expect(backoff.delay(afterAttempt: 1, share: 0) == .seconds(5))
        #expect(backoff.delay(afterAttempt: 1, share: 1) == .seconds(10))
        #expect(backoff.delay(afterAttempt: 1, share: 7) == .seconds(10))
        // The generator's draw is the share: a fixed one gives the same wait every time.
        var first = FixedRandom(values: [0x1234_5678_9abc_def0])
        var second = FixedRandom(values: [0x1234_5678_9abc_def0])
        #expect(backoff.delay(afterAttempt: 1, using: &first) == backoff.delay(afterAttempt: 1, using: &second))
    }

    @Test("settings out of range are pulled into it")
    func clamps() {
        let backoff = RetryBackoff(initial: .seconds(5), maximum: .seconds(1), multiplier: 0.5, jitter: 3)
        #expect(backoff.jitter == 1)
        #expect(backoff.multiplier == 1)
        #expect(backoff.ceiling(afterAttempt: 3) == .seconds(1))
        // Without growth a large attempt number is as cheap as the first.
        let flat = RetryBackoff(initial: .seconds(1), maximum: .seconds(9), multiplier: 1, jitter: 0)
        #expect(flat.delay(afterAttempt: .max) == .seconds(1))
    }
}
