import Domain
import Wire

extension FieldProblem {
    /// The problem as a wire violation.
    package var violation: FieldViolation { FieldViolation(field: field.isEmpty ? "json" : field, message: message) }
}
