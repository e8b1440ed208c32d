import Crypto
import Foundation

/// Stripe's webhook signature, as Stripe documents it: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`
/// where each `v1` is the hex HMAC-SHA256, with the endpoint's signing secret, of `"{t}.{raw body}"`.
/// Other schemes (`v0`) are ignored; several `v1` appear while a secret is rolled.
package enum StripeSignature {
    package struct Header: Equatable, Sendable {
        package var timestamp: Int64
        package var signatures: [String]
    }

    package enum Verdict: Error, Equatable, Sendable {
        case valid
        /// The header is missing, unreadable, or carries no `v1`.
        case malformed(String)
        /// `t` is more than the tolerance away from now (too old: a replay; too new: a wrong clock).
        case outsideTolerance
        /// No `v1` matches any signing secret.
        case mismatch
    }

    /// Parses the header strictly: comma-separated `key=value` items, exactly one `t` of digits, at least
    /// one `v1` of 64 hex digits. Anything else is malformed.
    package static func parse(_ header: String) -> Result<Header, Verdict> {
        guard !header.isEmpty, header.utf8.count <= 4096 else { return .failure(.malformed("empty or oversized Stripe-Signature")) }
        var timestamp: Int64?
        var signatures: [String] = []
        for item in header.split(separator: ",", omittingEmptySubsequences: false) {
            let item = item.trimmingCharacters(in: .whitespaces)
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                return .failure(.malformed("Stripe-Signature item without key=value"))
            }
            let key = item[..<equals]
            let value = String(item[item.index(after: equals)...])
            switch key {
            case "t":
                guard timestamp == nil else { return .failure(.malformed("Stripe-Signature has two timestamps")) }
                guard !value.isEmpty, value.count <= 12, value.allSatisfy(\.isASCIIDigit), let seconds = Int64(value) else {
                    return .failure(.malformed("Stripe-Signature timestamp is not unix seconds"))
                }
                timestamp = seconds
            case "v1":
                guard value.count == 64, value.allSatisfy(\.isHexDigit) else { return .failure(.malformed("Stripe-Signature v1 is not 64 hex digits")) }
                guard signatures.count < 16 else { return .failure(.malformed("Stripe-Signature has too many signatures")) }
                signatures.append(value.lowercased())
            default:
                // v0 (test mode's legacy scheme) and schemes yet to come carry nothing we check.
                continue
            }
        }
        guard let timestamp else { return .failure(.malformed("Stripe-Signature has no timestamp")) }
        guard !signatures.isEmpty else { return .failure(.malformed("Stripe-Signature has no v1 signature")) }
        return .success(Header(timestamp: timestamp, signatures: signatures))
    }

    /// The hex signature Stripe computes for `body` at `timestamp`.
    package static func sign(body: some DataProtocol, timestamp: Int64, secret: String) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Checks a delivery: the header parses, its time is within `tolerance` of `now`, and one of its `v1`
    /// matches one of `secrets`. Every comparison runs in constant time and none stops early.
    package static func verify(header: String?, body: some DataProtocol, secrets: [String], now: Date,
                               tolerance: Duration = .seconds(300)) -> Verdict {
        guard let header else { return .malformed("no Stripe-Signature header") }
        let parsed: Header
        switch parse(header) {
        case .success(let value): parsed = value
        case .failure(let verdict): return verdict
        }
        let skew = abs(now.timeIntervalSince1970 - Double(parsed.timestamp))
        guard skew <= Double(tolerance.components.seconds) else { return .outsideTolerance }
        var matched = false
        for secret in secrets {
            let expected = Array(sign(body: body, timestamp: parsed.timestamp, secret: secret).utf8)
            for signature in parsed.signatures {
                matched = constantTimeEqual(expected, Array(signature.utf8)) || matched
            }
        }
        return matched ? .valid : .mismatch
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
