import Foundation

// MARK: - Timestamps in webhook bodies

/// Reads the two timestamp formats found in Kommo webhooks.
///
/// Leads and contacts send unix seconds (`1764072000`); tasks and notes may send
/// `"YYYY-MM-DD HH:MM:SS"`, which carries no zone and is read as UTC (the account's zone is not in the
/// body). Parsed by hand rather than with `DateFormatter`, which depends on locale settings and is
/// costly to set up per request.
package enum KommoTimestamp {
    /// The date in `text`, or `nil` when it is empty, zero (Kommo's "unset") or not a known format.
    package static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingASCIISpaces()
        if let number = Int64(trimmed) {
            guard number > 0 else { return nil }
            // 13-digit values are milliseconds; 10^11 seconds would be the year 5138.
            let seconds = number >= 100_000_000_000 ? Double(number) / 1000 : Double(number)
            return Date(timeIntervalSince1970: seconds)
        }
        return parseDateTime(Array(trimmed.utf8))
    }

    /// `YYYY-MM-DD`, optionally followed by ` HH:MM[:SS]` or `THH:MM[:SS]`, as UTC.
    private static func parseDateTime(_ bytes: [UInt8]) -> Date? {
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0
        if bytes.count > 10 {
            guard bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
                  bytes.count == 16 || bytes.count == 19,
                  bytes[13] == UInt8(ascii: ":"),
                  let h = number(11..<13), let m = number(14..<16), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if bytes.count == 19 {
                guard bytes[16] == UInt8(ascii: ":"), let s = number(17..<19), s < 61 else { return nil }
                second = s
            }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
