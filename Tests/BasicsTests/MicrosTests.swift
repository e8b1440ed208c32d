import Basics
import Foundation
import Testing

@Suite("Microseconds")
struct MicrosTests {
    @Test("a Duration rounds to the nearest microsecond, halves away from zero, on both sides of zero")
    func durationRounds() {
        #expect(Duration.seconds(2).micros == 2_000_000)
        #expect(Duration.milliseconds(-1500).micros == -1_500_000)
        #expect(Duration.nanoseconds(1_499).micros == 1)
        #expect(Duration.nanoseconds(1_500).micros == 2)
        #expect(Duration.nanoseconds(499).micros == 0)
        #expect(Duration.nanoseconds(500).micros == 1)
        #expect(Duration.nanoseconds(-499).micros == 0)
        #expect(Duration.nanoseconds(-500).micros == -1)
        #expect(Duration.nanoseconds(-1_500).micros == -2)
        #expect(Duration.nanoseconds(-1_499).micros == -1)
        // Sub-microsecond parts of a longer duration round the same way.
        #expect((Duration.seconds(3) + .nanoseconds(999_999_500)).micros == 4_000_000)
        #expect((Duration.seconds(-3) - .nanoseconds(999_999_500)).micros == -4_000_000)
        #expect(Duration.microseconds(Int64(7)).micros == 7)
    }

    @Test("a Duration beyond what Int64 microseconds hold is clamped, not wrapped")
    func durationClamps() {
        #expect(Duration.seconds(Int64.max).micros == .max)
        #expect(Duration.seconds(Int64.min).micros == .min)
    }

    @Test("a Date rounds to the nearest microsecond, before and after 1970")
    func dateRounds() {
        // A Date keeps a Double of seconds since 2001, about 0.1 µs fine around 1970, so exact halves
        // cannot be made; fractions clear of them show the direction on each side of zero.
        #expect(Date(timeIntervalSince1970: 1.000_000_3).unixMicros == 1_000_000)
        #expect(Date(timeIntervalSince1970: 1.000_000_7).unixMicros == 1_000_001)
        #expect(Date(timeIntervalSince1970: 0.000_000_7).unixMicros == 1)
        #expect(Date(timeIntervalSince1970: 0.000_000_3).unixMicros == 0)
        #expect(Date(timeIntervalSince1970: -0.000_000_7).unixMicros == -1)
        #expect(Date(timeIntervalSince1970: -0.000_000_3).unixMicros == 0)
        #expect(Date(timeIntervalSince1970: -1.000_000_7).unixMicros == -1_000_001)
        #expect(Date(timeIntervalSince1970: -1.000_000_3).unixMicros == -1_000_000)
    }

    @Test("micros → Date → micros gives back the same number, where truncating would lose one")
    func dateRoundTrip() {
        var truncatedWrong = 0
        for micros: Int64 in [0, 1, -1, 1_764_072_000_123_457, 1_764_072_000_000_001, -86_400_000_001, 4_102_444_800_999_999] {
            let date = Date(unixMicros: micros)
            #expect(date.unixMicros == micros, "\(micros)")
            if Int64(date.timeIntervalSince1970 * 1_000_000) != micros { truncatedWrong += 1 }
        }
        for micros in stride(from: Int64(1_764_072_000_000_000), to: 1_764_072_000_001_000, by: 1) {
            #expect(Date(unixMicros: micros).unixMicros == micros)
            if Int64(Date(unixMicros: micros).timeIntervalSince1970 * 1_000_000) != micros { truncatedWrong += 1 }
        }
        // The rule is there for a reason: truncation misreads some of these.
        #expect(truncatedWrong > 0)
    }

    @Test("milliseconds and seconds keep their fraction")
    func fractions() {
        #expect(Duration.microseconds(Int64(1_500)).millis == 1.5)
        #expect(Duration.milliseconds(-250).millis == -250)
        #expect(Duration.milliseconds(1_250).fractionalSeconds == 1.25)
    }
}
