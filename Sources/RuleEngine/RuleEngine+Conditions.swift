import Domain
import Foundation

/// The text `message_text` conditions read, prepared once per event rather than once per rule: folding
/// non-ASCII text is the costliest step of keyword matching.
struct MessageTextView {
    /// The text as received.
    let raw: String
    /// Trimmed, lowercased, accents removed: what keywords are looked for in.
    let folded: String
    /// Capped and accents removed: what patterns run on.
    let forPatterns: String

    /// Keywords are looked for in this many leading characters: a lead's message is far shorter, and a
    /// cap keeps one keyword's scan bounded whatever arrives.
    static let maxKeywordInput = 16_384

    /// Prepares `raw`.
    init(_ raw: String) {
        self.raw = raw
        self.folded = TextFold.fold(raw.utf8.count > Self.maxKeywordInput ? String(raw.prefix(Self.maxKeywordInput)) : raw)
        self.forPatterns = BoundedPattern.prepare(raw)
    }
}

/// Evaluates condition trees against one event and the lead's facts after it.
///
/// Explanations are only built where they can surface: a leaf's description is needed when it fails outside
/// a `not`, or holds inside one, and the children of an `any` are tried quietly first (the first one is
/// described again only when all fail). Elsewhere a bare placeholder stands in, which keeps string
/// building out of the common path.
struct ConditionEvaluator {
    /// The event being evaluated.
    let event: KommoEvent
    /// The lead's facts after the event.
    let facts: LeadFacts
    /// Fields the event carried, with their previous values.
    let changes: [String: FieldChange]
    /// The evaluation time.
    let now: Date
    /// The agent's working hours, for `within_working_hours` leaves without their own.
    let workingHours: WorkingHours?
    /// Where compiled patterns, parsed field references and folded keywords come from.
    let rules: RuleSet
    /// This event's message text, or the lead's last incoming one.
    let message: MessageTextView?
    /// Charged for every node and every byte scanned; when it runs out the walk stops (the verdict is then
    /// meaningless and the engine reports `budget_exceeded`).
    let meter: WorkMeter

    /// The outcome of a node, with the leaf that decided it.
    struct Verdict {
        /// Whether the node holds.
        var holds: Bool
        /// Describes the deciding leaf when the description can surface (see the type's note); a
        /// placeholder otherwise.
        var leaf: FailingLeaf
    }

    /// Evaluates the tree of a rule.
    func evaluate(_ condition: Condition) -> Verdict {
        evaluate(condition, at: "conditions", negated: false, quiet: false)
    }

    /// Evaluates `condition` found at `path` (`conditions`, `conditions.all[1]`, …), under an odd number of
    /// `not`s when `negated`, and without building any description when `quiet` (`path` is then unused).
    func evaluate(_ condition: Condition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        meter.spend(1)
        if meter.exhausted { return Self.stopped(at: path) }
        switch condition {
        case .all(let children):
            var last: Verdict?
            for (index, child) in children.enumerated() {
                let verdict = evaluate(child, at: quiet ? "" : "\(path).all[\(index)]", negated: negated, quiet: quiet)
                if !verdict.holds || meter.exhausted { return verdict }
                last = verdict
            }
            return last ?? Verdict(holds: true, leaf: FailingLeaf(path: path, kind: nil, actual: nil, expected: nil, reason: "an empty all holds"))
        case .any(let children):
            // Outside a `not`, a holding child needs no description and a failing one only matters when
            // all fail; inside a `not` the holding child is the one that surfaces.
            let tryQuietly = quiet || !negated
            for (index, child) in children.enumerated() {
                let verdict = evaluate(child, at: tryQuietly ? "" : "\(path).any[\(index)]", negated: negated, quiet: tryQuietly)
                if verdict.holds || meter.exhausted { return verdict }
            }
            guard let firstChild = children.first else {
                return Verdict(holds: false, leaf: FailingLeaf(path: "\(path).any", kind: nil, actual: nil, expected: nil, reason: "an empty any never holds"))
            }
            if quiet { return Verdict(holds: false, leaf: FailingLeaf(path: path, kind: nil, actual: nil, expected: nil, reason: "")) }
            var failed = evaluate(firstChild, at: "\(path).any[0]", negated: negated, quiet: false)
            if children.count > 1, !negated {
                failed.leaf.reason = "none of the \(children.count) alternatives in \(path).any holds; the first: \(failed.leaf.reason)"
            }
            return Verdict(holds: false, leaf: failed.leaf)
        case .not(let child):
            let inner = evaluate(child, at: quiet ? "" : "\(path).not", negated: !negated, quiet: quiet)
            var leaf = inner.leaf
            if inner.holds, !negated, !quiet {
                leaf.path = "\(path).not"
                leaf.expected = leaf.expected.map { "not (\($0))" }
                leaf.reason = "negated, but it holds: \(inner.leaf.reason)"
            }
            return Verdict(holds: !inner.holds, leaf: leaf)
        case .fieldValue(let leaf): return fieldValue(leaf, at: path, negated: negated, quiet: quiet)
        case .timeElapsed(let leaf): return timeElapsed(leaf, at: path, negated: negated, quiet: quiet)
        case .stageIs(let leaf): return stageIs(leaf, at: path, negated: negated, quiet: quiet)
        case .pipelineIs(let leaf): return pipelineIs(leaf, at: path, negated: negated, quiet: quiet)
        case .messageText(let leaf): return messageText(leaf, at: path, negated: negated, quiet: quiet)
        case .messageOrigin(let leaf): return messageOrigin(leaf, at: path, negated: negated, quiet: quiet)
        case .withinWorkingHours(let leaf): return withinWorkingHours(leaf, at: path, negated: negated, quiet: quiet)
        case .responsibleUserIs(let leaf): return responsibleUserIs(leaf, at: path, negated: negated, quiet: quiet)
        case .inboundMessageCount(let leaf): return inboundMessageCount(leaf, at: path, negated: negated, quiet: quiet)
        }
    }

    /// What a walk stopped by the meter returns; the engine reports the budget, not this leaf.
    static func stopped(at path: String) -> Verdict {
        Verdict(holds: false, leaf: FailingLeaf(path: path, kind: nil, actual: nil, expected: nil, reason: "evaluation budget spent"))
    }

    /// A verdict whose description is built only when it can surface.
    func verdict(_ holds: Bool, negated: Bool, quiet: Bool, at path: String, kind: ConditionKind, describe: () -> FailingLeaf) -> Verdict {
        guard !quiet, holds == negated else {
            return Verdict(holds: holds, leaf: FailingLeaf(path: path, kind: kind, actual: nil, expected: nil, reason: ""))
        }
        return Verdict(holds: holds, leaf: describe())
    }

    // MARK: - field_value

    /// `field_value`: the operator applied to the field's current value (or its change).
    func fieldValue(_ leaf: FieldValueCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        let op = leaf.op
        // A verdict whose explanation is `reason(expected)`, built only when it can surface.
        func judged(_ holds: Bool, actual: String?, _ reason: (_ expected: String?) -> String) -> Verdict {
            verdict(holds, negated: negated, quiet: quiet, at: path, kind: .fieldValue) {
                let expected: String? = FieldOperator.listOperators.contains(op)
                    ? leaf.values.map { "[" + $0.map(Self.quote).joined(separator: ", ") + "]" }
                    : leaf.value.map(Self.quote)
                return FailingLeaf(path: path, kind: .fieldValue, subject: leaf.field, op: op.rawValue,
                                   actual: actual, expected: expected, reason: reason(expected))
            }
        }
        guard let field = rules.fieldRef(leaf.field) else {
            return judged(false, actual: nil) { _ in "\"\(leaf.field)\" is not a field reference" }
        }
        let current = facts.value(of: field)
        // Every text operator reads the value once per operand.
        meter.spend((current?.utf8.count ?? 0) * max(1, leaf.values?.count ?? 1))
        // The usual explanation: what the field is, and what was expected when that did not hold.
        func compared(_ holds: Bool) -> Verdict {
            judged(holds, actual: current) { expected in
                let described = "\(field) is \(current.map(Self.quote) ?? "not set")"
                return holds ? described : "\(described); expected \(op.rawValue)\(expected.map { " \($0)" } ?? "")"
            }
        }

        // `equals` and `in` compare one value with one or many operands: fold and parse it once.
        func sameAsCurrent() -> (String) -> Bool {
            guard let current else { return { _ in false } }
            let folded = TextFold.fold(current)
            let number = TextFold.number(current)
            return { operand in
                if let number, let other = TextFold.number(operand) { return number == other }
                return folded == rules.folded(operand)
            }
        }

        switch op {
        case .isEmpty, .isNotEmpty:
            let empty = current.map(TextFold.isBlank) ?? true
            return compared(op == .isEmpty ? empty : !empty)
        case .changed, .changedTo, .changedFrom:
            guard let change = field.lookupKeys.lazy.compactMap({ changes[$0] }).first, change.isChange else {
                return judged(false, actual: current) { _ in
                    "\(field) was not changed by this event (it is \(current.map(Self.quote) ?? "not set"))"
                }
            }
            let holds: Bool
            switch op {
            case .changedTo: holds = leaf.value.map { TextFold.same(change.new, $0) } ?? false
            case .changedFrom: holds = leaf.value.flatMap { value in change.old.map { TextFold.same($0, value) } } ?? false
            default: holds = true
            }
            return judged(holds, actual: "\(change.old ?? "") → \(change.new)") { expected in
                let movement = "\(field) changed from \(change.old.map(Self.quote) ?? "not set") to \(Self.quote(change.new))"
                return holds ? movement : "\(movement); expected \(op.rawValue) \(expected ?? "a value")"
            }
        case .in, .notIn:
            guard let values = leaf.values, !values.isEmpty else {
                return judged(false, actual: current) { _ in "no values to compare with" }
            }
            let found = values.contains(where: sameAsCurrent())
            return compared(op == .in ? found : !found)
        default:
            break
        }

        guard let value = leaf.value else {
            return judged(false, actual: current) { _ in "no value to compare with" }
        }
        switch op {
        case .equals:
            return compared(sameAsCurrent()(value))
        case .notEquals:
            return compared(!sameAsCurrent()(value))
        case .contains:
            return compared(current.map { TextFold.foldedContains(TextFold.fold($0), rules.folded(value)) } ?? false)
        case .notContains:
            return compared(!(current.map { TextFold.foldedContains(TextFold.fold($0), rules.folded(value)) } ?? false))
        case .startsWith:
            return compared(current.map { TextFold.fold($0).utf8.starts(with: rules.folded(value).utf8) } ?? false)
        case .matches:
            let pattern: BoundedPattern
            do {
                pattern = try rules.pattern(value)
            } catch {
                return judged(false, actual: current) { _ in "the pattern \(Self.quote(value)) cannot run: \(error)" }
            }
            return compared(current.map { pattern.matches($0) } ?? false)
        case .gt, .gte, .lt, .lte:
            guard let limit = TextFold.number(value) else {
                return judged(false, actual: current) { _ in "the expected value \(Self.quote(value)) is not a number" }
            }
            guard let number = current.flatMap(TextFold.number) else {
                return judged(false, actual: current) { _ in
                    "\(field) is \(current.map(Self.quote) ?? "not set"), which is not a number; \(op.rawValue) compares numbers"
                }
            }
            return compared(Self.compare(number, op, limit))
        default:
            return compared(false)
        }
    }

    // MARK: - Other leaves

    /// `time_elapsed`: whole seconds since the anchor, compared with the duration.
    func timeElapsed(_ leaf: TimeElapsedCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        guard let since = facts.time(of: leaf.anchor) else {
            return verdict(false, negated: negated, quiet: quiet, at: path, kind: .timeElapsed) {
                FailingLeaf(path: path, kind: .timeElapsed, subject: leaf.anchor.rawValue, op: leaf.op.rawValue, actual: nil,
                            expected: Self.duration(leaf.seconds), reason: "\(leaf.anchor.rawValue) is not known for this lead")
            }
        }
        let elapsed = Int(now.timeIntervalSince(since).rounded(.down))
        let holds = FieldOperator.ordering.contains(leaf.op) && Self.compare(Double(elapsed), leaf.op, Double(leaf.seconds))
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .timeElapsed) {
            let expected = Self.duration(leaf.seconds)
            let described = "\(Self.duration(elapsed)) since \(leaf.anchor.rawValue)"
            return FailingLeaf(path: path, kind: .timeElapsed, subject: leaf.anchor.rawValue, op: leaf.op.rawValue,
                               actual: Self.duration(elapsed), expected: expected,
                               reason: holds ? described : "\(described); expected \(leaf.op.rawValue) \(expected)")
        }
    }

    /// `stage_is`: the lead's current stage (and pipeline).
    func stageIs(_ leaf: StageCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        let inStage = facts.stageID.map(leaf.stageIDs.contains) ?? false
        let inPipeline = leaf.pipelineID.map { $0 == facts.pipelineID } ?? true
        let holds = inStage && inPipeline
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .stageIs) {
            let expected = leaf.stageIDs.map(String.init).joined(separator: ", ") + (leaf.pipelineID.map { " in pipeline \($0)" } ?? "")
            let actual = Self.stageDescription(facts)
            return FailingLeaf(path: path, kind: .stageIs, subject: "stage", actual: actual, expected: expected,
                               reason: holds ? "the lead is in \(actual ?? "")" : "the lead is in \(actual ?? "an unknown stage"); expected stage \(expected)")
        }
    }

    /// `pipeline_is`: the lead's current pipeline.
    func pipelineIs(_ leaf: PipelineCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        let holds = facts.pipelineID.map(leaf.pipelineIDs.contains) ?? false
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .pipelineIs) {
            let actual = facts.pipelineID.map(String.init)
            let expected = leaf.pipelineIDs.map(String.init).joined(separator: ", ")
            return FailingLeaf(path: path, kind: .pipelineIs, subject: "pipeline", actual: actual, expected: expected,
                               reason: holds ? "the lead is in pipeline \(actual ?? "")" : "the lead is in pipeline \(actual ?? "unknown"); expected \(expected)")
        }
    }

    /// `message_text`: this event's message, or the lead's last incoming one for other events.
    func messageText(_ leaf: MessageTextCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        func judged(_ holds: Bool, _ reason: @autoclosure () -> String) -> Verdict {
            verdict(holds, negated: negated, quiet: quiet, at: path, kind: .messageText) {
                FailingLeaf(path: path, kind: .messageText, subject: "message text", op: leaf.op.rawValue,
                            actual: message.map { String($0.raw.prefix(200)) }, expected: expected, reason: reason())
            }
        }
        var expected: String {
            switch leaf.op {
            case .containsAny:
                // A long list is shown by its head: an explanation is read by a person and stored.
                let keywords = leaf.keywords ?? []
                let shown = keywords.prefix(10).map(Self.quote).joined(separator: ", ")
                return "[" + shown + (keywords.count > 10 ? ", … (\(keywords.count) in all)" : "") + "]"
            case .matches: return Self.quote(leaf.pattern ?? "")
            }
        }
        guard let message, !message.raw.isEmpty else { return judged(false, "there is no message text") }
        switch leaf.op {
        case .containsAny:
            // Each keyword is a scan of the message: charge the bytes it compared, and stop when spent.
            var hit: String?
            for keyword in leaf.keywords ?? [] {
                var work = 1
                let folded = rules.folded(keyword)
                let found = !folded.isEmpty && TextFold.foldedContains(message.folded, folded, work: &work)
                meter.spend(work)
                if found { hit = keyword; break }
                if meter.exhausted { break }
            }
            if meter.exhausted { return Self.stopped(at: path) }
            if let hit { return judged(true, "the message contains \(Self.quote(hit))") }
            return judged(false, "the message contains none of \(expected)")
        case .matches:
            guard let source = leaf.pattern else { return judged(false, "the condition has no pattern") }
            let pattern: BoundedPattern
            do {
                pattern = try rules.pattern(source)
            } catch {
                return judged(false, "the pattern \(expected) cannot run: \(error)")
            }
            meter.spend(message.forPatterns.utf8.count + 1)
            if meter.exhausted { return Self.stopped(at: path) }
            let holds = pattern.matches(prepared: message.forPatterns)
            return judged(holds, holds ? "the message matches \(expected)" : "the message does not match \(expected)")
        }
    }

    /// `message_origin`: the channel of this event's message, or of the last incoming one.
    func messageOrigin(_ leaf: MessageOriginCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        let origin = event.type == .messageReceived ? event.message?.origin : facts.lastInboundOrigin
        let holds = origin.map { value in
            let folded = TextFold.fold(value)
            return leaf.origins.contains { rules.folded($0) == folded }
        } ?? false
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .messageOrigin) {
            let expected = leaf.origins.joined(separator: ", ")
            let shown = origin.flatMap { $0.isEmpty ? nil : $0 }
            return FailingLeaf(path: path, kind: .messageOrigin, subject: "message origin", actual: shown, expected: expected,
                               reason: holds ? "the message came through \(shown ?? "")" : "the message came through \(shown ?? "an unknown channel"); expected \(expected)")
        }
    }

    /// `within_working_hours`: the evaluation time in the leaf's or the agent's hours.
    func withinWorkingHours(_ leaf: WorkingHoursCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        guard let hours = leaf.hours ?? workingHours else {
            return verdict(true, negated: negated, quiet: quiet, at: path, kind: .withinWorkingHours) {
                FailingLeaf(path: path, kind: .withinWorkingHours, subject: "time", actual: nil, expected: nil,
                            reason: "the agent has no working hours, so it works around the clock")
            }
        }
        let holds = hours.contains(now)
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .withinWorkingHours) {
            let local = hours.localDescription(of: now)
            return FailingLeaf(path: path, kind: .withinWorkingHours, subject: "time", actual: local, expected: hours.summary,
                               reason: holds ? "\(local) is within working hours" : "\(local) is outside working hours (\(hours.summary))")
        }
    }

    /// `responsible_user_is`: the lead's current responsible user.
    func responsibleUserIs(_ leaf: ResponsibleUserCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        let user = facts.responsibleUserID
        let holds = user.map(leaf.userIDs.contains) ?? false
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .responsibleUserIs) {
            let expected = leaf.userIDs.map(String.init).joined(separator: ", ")
            let actual = user.map(String.init)
            return FailingLeaf(path: path, kind: .responsibleUserIs, subject: "responsible user", actual: actual, expected: expected,
                               reason: holds ? "the responsible user is \(actual ?? "")" : "the responsible user is \(actual ?? "unknown"); expected \(expected)")
        }
    }

    /// `inbound_message_count`: incoming messages counted so far, this one included.
    func inboundMessageCount(_ leaf: InboundCountCondition, at path: String, negated: Bool, quiet: Bool) -> Verdict {
        let count = facts.inboundCount
        let holds: Bool
        switch leaf.op {
        case .equals: holds = count == leaf.count
        case .notEquals: holds = count != leaf.count
        case .gt, .gte, .lt, .lte: holds = Self.compare(Double(count), leaf.op, Double(leaf.count))
        default: holds = false
        }
        return verdict(holds, negated: negated, quiet: quiet, at: path, kind: .inboundMessageCount) {
            FailingLeaf(path: path, kind: .inboundMessageCount, subject: "inbound messages", op: leaf.op.rawValue,
                        actual: String(count), expected: String(leaf.count),
                        reason: holds ? "the lead sent \(count) messages" : "the lead sent \(count) messages; expected \(leaf.op.rawValue) \(leaf.count)")
        }
    }

    // MARK: - Helpers

    /// Applies an ordering operator.
    static func compare(_ lhs: Double, _ op: FieldOperator, _ rhs: Double) -> Bool {
        switch op {
        case .gt: lhs > rhs
        case .gte: lhs >= rhs
        case .lt: lhs < rhs
        case .lte: lhs <= rhs
        default: false
        }
    }

    /// `"text"`, so that empty and padded values are visible in explanations.
    static func quote(_ text: String) -> String { "\"\(text)\"" }

    /// `1d 2h 5m`, `45s`: durations people can read in an explanation.
    static func duration(_ seconds: Int) -> String {
        if seconds < 0 { return "-" + duration(-seconds) }
        let parts = [(seconds / 86_400, "d"), (seconds % 86_400 / 3600, "h"), (seconds % 3600 / 60, "m"), (seconds % 60, "s")]
        let shown = parts.filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }
        return shown.isEmpty ? "0s" : shown.joined(separator: " ")
    }

    /// `stage 501 of pipeline 7001`, or `nil` when the stage is unknown.
    static func stageDescription(_ facts: LeadFacts) -> String? {
        guard let stage = facts.stageID else { return nil }
        return "stage \(stage)" + (facts.pipelineID.map { " of pipeline \($0)" } ?? "")
    }
}
