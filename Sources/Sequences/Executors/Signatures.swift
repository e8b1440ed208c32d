import Basics
import Crypto
import Foundation

// MARK: - Chats API (amojo)

/// Request signing of Kommo's Chats API ("amojo").
///
/// Kommo checks `X-Signature`, a lowercase hex HMAC-SHA1 with the channel secret over
/// `METHOD\nContent-MD5\nContent-Type\nDate\n/path`, and `Content-MD5`, the lowercase hex MD5 of the body.
package enum ChatsAPISignature {
    /// Lowercase hex MD5 of `body`.
    package static func contentMD5(_ body: [UInt8]) -> String {
        Hex.string(Insecure.MD5.hash(data: body))
    }

    /// Lowercase hex HMAC-SHA1 over the canonical request text.
    package static func signature(method: String, contentMD5: String, contentType: String, date: String,
                                  path: String, secret: String) -> String {
        let text = [method.uppercased(), contentMD5, contentType, date, path].joined(separator: "\n")
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Hex.string(code)
    }

    /// Lowercase hex HMAC-SHA1 of a whole body: the `X-Signature` Kommo puts on a channel's webhooks.
    package static func bodySignature(_ body: [UInt8], secret: String) -> String {
        Hex.string(HMAC<Insecure.SHA1>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }

    /// `date` as RFC 2822 in UTC, e.g. `Mon, 02 Jan 2006 15:04:05 +0000`, independent of the locale.
    package static func rfc2822(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        return "\(weekdays[((parts.weekday ?? 1) - 1) % 7]), \(two(parts.day)) \(months[((parts.month ?? 1) - 1) % 12]) "
            + "\(parts.year ?? 1970) \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) +0000"
    }
}

// MARK: - Standard Webhooks

/// The secret of an outgoing-webhook endpoint in the Standard Webhooks format: `whsec_` followed by the
/// base64 key. A secret without the prefix is taken as raw text (its UTF-8 bytes are the key), for
/// receivers that were set up with a plain shared secret.
package struct WebhookSecret: Sendable, Hashable, CustomStringConvertible {
    /// The HMAC key.
    package let key: [UInt8]

    /// Parses `text`; `nil` for an empty secret or a `whsec_` secret whose base64 is invalid or empty.
    package init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("whsec_") {
            guard let data = Data(base64Encoded: String(trimmed.dropFirst(6))), !data.isEmpty else { return nil }
            key = Array(data)
        } else {
            guard !trimmed.isEmpty else { return nil }
            key = Array(trimmed.utf8)
        }
    }

    /// A new random secret in `whsec_` form with a 24-byte key, for the admin UI to hand to a receiver.
    package static func generate() -> String {
        let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max) }
        return "whsec_" + Data(bytes).base64EncodedString()
    }

    /// Redacted.
    package var description: String { "WebhookSecret(<redacted>)" }
}

/// Signing of outgoing webhooks under the Standard Webhooks scheme.
package enum StandardWebhookSignature {
    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    package static func signature(id: String, timestamp: Int64, body: [UInt8], secret: WebhookSecret) -> String {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed.append(contentsOf: body)
        let code = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: secret.key))
        return "v1," + Data(code).base64EncodedString()
    }

    /// Whether a `webhook-signature` header (space-separated `v1,<sig>` entries) carries a valid signature:
    /// what a receiver does, offered so that tests and our own receivers check the same way.
    package static func verify(header: String, id: String, timestamp: Int64, body: [UInt8], secret: WebhookSecret) -> Bool {
        let expected = Array(signature(id: id, timestamp: timestamp, body: body, secret: secret).utf8)
        return header.split(separator: " ").contains { candidate in
            let bytes = Array(candidate.utf8)
            // Constant-time comparison: a timing difference would leak how much of a forgery was right.
            guard bytes.count == expected.count else { return false }
            return zip(bytes, expected).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }
}
