import Foundation

/// Where and as whom to call one tenant's Kommo account.
///
/// The base URL comes from configuration (`https://{subdomain}.kommo.com`, an `amocrm.ru` host, or a
/// loopback emulator in tests); no host is built in. The token never appears in ``description``, logs or
/// results.
package struct KommoConnection: Sendable, Hashable, CustomStringConvertible {
    /// Scheme, host and optional port (and path prefix), without a trailing slash.
    package let baseURL: String
    /// The OAuth access token or long-lived token sent as `Authorization: Bearer`.
    package let accessToken: String
    /// The tenant whose stored OAuth refresh token can renew ``accessToken`` when Kommo refuses it;
    /// `nil` when none is stored (a long-lived token, or no OAuth credentials).
    package var renewableTenant: String?
    /// The tenant the connection belongs to, when known: a paused account defers that tenant's actions
    /// and releases them when it answers again.
    package var tenantID: String?

    /// An account at `baseURL`; `nil` when the URL is not an absolute http(s) URL or the token is empty.
    package init?(baseURL: String, accessToken: String) {
        let trimmed = OutboundHTTP.trimmingTrailingSlashes(baseURL.trimmingCharacters(in: .whitespacesAndNewlines))
        guard let components = URLComponents(string: trimmed),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil, components.query == nil,
              !accessToken.trimmingCharacters(in: .whitespaces).isEmpty
        else { return nil }
        self.baseURL = trimmed
        self.accessToken = accessToken.trimmingCharacters(in: .whitespaces)
    }

    /// The account `https://{subdomain}.kommo.com`; `nil` for a subdomain that is not a plain DNS label.
    package init?(subdomain: String, accessToken: String) {
        let label = subdomain.lowercased()
        guard !label.isEmpty, label.count <= 63,
              label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
        else { return nil }
        self.init(baseURL: "https://\(label).kommo.com", accessToken: accessToken)
    }

    /// The key the rate limiter counts under: requests to the same account share one allowance.
    package var rateLimitKey: String { baseURL.lowercased() }

    /// The base URL with the token redacted.
    package var description: String { "KommoConnection(\(baseURL), token: <redacted>)" }
}
