// MARK: - Refusals with a code

/// Why a webhook body was refused: a code from a closed set, for counting and tests, and a reason
/// fit to store next to the unparsed delivery.
///
/// The form decoder and the webhook parser refuse bodies for different sets of reasons; each names its
/// set as `Code` (``FormDecodingError``, ``KommoWebhookError``), and both carry it the same way.
package struct BodyRefusal<Code>: Error, Hashable, Sendable, CustomStringConvertible
where Code: RawRepresentable & Hashable & Sendable, Code.RawValue == String {
    /// Which rule the body broke.
    package var code: Code
    /// A human-readable explanation.
    package var reason: String

    /// An error with its code and explanation.
    package init(code: Code, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The code and the reason, for logs.
    package var description: String { "\(code.rawValue): \(reason)" }
}
