import Foundation

/// One problem with one field of something a user submitted, reported next to that field: a rule, an
/// action, a send window, a template. The field is named by its JSON path (`conditions.all[1].operator`),
/// so that an editor can put the message next to the input that caused it; decoding errors and validation
/// use the same shape.
///
/// Validation returns every problem at once rather than stopping at the first, so an admin form can mark
/// all bad fields in one round trip; the gateway turns a list of these into the `errors` of an RFC 9457
/// problem document.
package struct FieldProblem: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The field's path as the client spelled it, e.g. `start` or `sendWindow.timeZone`; empty when the
    /// problem is the body as a whole.
    package var field: String
    /// What is wrong, written for the person filling in the form.
    package var message: String

    /// Creates a problem for `field`.
    package init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    /// The same problem with its field placed under `parent` (`start` under `sendWindow` is
    /// `sendWindow.start`), for types validated as part of a larger document.
    package func nested(under parent: String) -> FieldProblem {
        FieldProblem(field: parent.isEmpty ? field : "\(parent).\(field)", message: message)
    }

    /// `field: message`, or only the message for a problem of the whole body.
    package var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
