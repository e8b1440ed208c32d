import Foundation

extension SendWindow {
    /// A day of the week, written in JSON as a lowercase three-letter English abbreviation (`"mon"`).
    ///
    /// Nested in `SendWindow` because the rules vocabulary has its own top-level `Weekday` (which also
    /// accepts numbers and full names when decoding); both write the same three-letter names, so JSON
    /// written by one is read by the other.
    package enum Day: String, Codable, Sendable, Hashable, CaseIterable, Comparable {
        /// Monday to Sunday, in ISO 8601 order.
        case mon, tue, wed, thu, fri, sat, sun

        /// Monday to Friday.
        package static let workdays: [Day] = [.mon, .tue, .wed, .thu, .fri]

        /// Monday is 0 and Sunday 6, the ISO 8601 order.
        package var isoIndex: Int {
            switch self {
            case .mon: 0
            case .tue: 1
            case .wed: 2
            case .thu: 3
            case .fri: 4
            case .sat: 5
            case .sun: 6
            }
        }

        /// The day for Foundation's gregorian `weekday` component (1 is Sunday, 7 is Saturday).
        package init?(gregorianWeekday: Int) {
            guard (1...7).contains(gregorianWeekday) else { return nil }
            self = Self.allCases[(gregorianWeekday + 5) % 7]
        }

        /// Monday first, as in ``isoIndex``.
        package static func < (lhs: Day, rhs: Day) -> Bool { lhs.isoIndex < rhs.isoIndex }
    }
}
