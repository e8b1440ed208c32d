import Domain
import Wire

extension RuleProblem {
    /// The problem as a wire violation.
    package var violation: FieldViolation { FieldViolation(field: field.isEmpty ? "json" : field, message: message) }
}
