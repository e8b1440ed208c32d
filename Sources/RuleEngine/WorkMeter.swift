/// Counts the work one event's evaluation does, so that no rule can make it slow: one unit per condition
/// node evaluated plus one per byte a matcher scans. A rule that spends more than `ruleLimit` is stopped
/// and explained as `budget_exceeded`; once the whole event has spent `eventLimit`, the rules after it are
/// not evaluated.
///
/// A class because the condition evaluator is a tree of value-typed calls that must all charge the same
/// counter; one meter lives for one `RuleEngine.evaluate` call on one thread, so it needs no lock.
final class WorkMeter {
    /// Units one rule may spend.
    let ruleLimit: Int
    /// Units the whole event may spend.
    let eventLimit: Int
    /// Units spent by the rule being evaluated.
    private(set) var rule = 0
    /// Units spent by the event so far.
    private(set) var event = 0

    /// A meter with nothing spent.
    init(ruleLimit: Int, eventLimit: Int) {
        self.ruleLimit = ruleLimit
        self.eventLimit = eventLimit
    }

    /// Starts counting the next rule.
    func startRule() { rule = 0 }

    /// Charges `units`.
    func spend(_ units: Int) {
        rule &+= units
        event &+= units
    }

    /// Whether the current rule, or the event, has spent more than its limit.
    var exhausted: Bool { rule > ruleLimit || event > eventLimit }

    /// Whether the event has spent its whole budget.
    var eventSpent: Bool { event >= eventLimit }

    /// Why the current rule was stopped.
    var explanation: String {
        if rule > ruleLimit {
            return "evaluation stopped: the conditions needed more than the \(ruleLimit) work units one rule may spend on an event (one per condition, plus one per byte of text each keyword or pattern scans); use fewer keywords or conditions"
        }
        return "evaluation stopped: this event's budget of \(eventLimit) work units was spent (one per condition, plus one per byte of text each keyword or pattern scans); make the tenant's rules cheaper"
    }
}
