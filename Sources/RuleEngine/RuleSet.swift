import Domain
import Foundation

/// A tenant's rules prepared for evaluation: sorted once by priority, indexed by trigger and by the anchors
/// and cancel events of time-based rules, with every regular expression compiled, every field reference
/// parsed and every keyword folded. Build one when the
/// tenant's rules change and reuse it for every event, so that evaluating an event costs in proportion to
/// the rules its trigger reaches, not to all of the tenant's rules.
package struct RuleSet: Sendable {
    /// The rules in evaluation order: priority descending, then id ascending.
    package let rules: [Rule]
    private let byTrigger: [TriggerType: [Int]]
    /// `stage_changed` rules into a given stage, by that stage; a tenant with many stage rules pays only
    /// for the ones watching the stage the lead entered.
    private let stageRulesByStage: [Int64: [Int]]
    /// `stage_changed` rules into any stage.
    private let stageRulesAnyStage: [Int]
    private let byID: [String: Int]
    /// Enabled time-based rules by the anchor they count from.
    private let timedByAnchor: [TimeAnchor: [Int]]
    /// Enabled time-based rules by what cancels them.
    private let timedByCancel: [TimerCancel: [Int]]
    /// Compiled patterns by source; patterns that do not compile are absent from it.
    private let patterns: [String: BoundedPattern]
    /// Why each pattern that does not compile was refused, so an explanation can say it.
    private let patternErrors: [String: PatternError]
    /// Parsed field references by their text; references that do not parse are absent.
    private let fieldRefs: [String: FieldRef]
    /// Folded keywords, origins and `contains`/`starts_with` operands by their text.
    private let foldedTexts: [String: String]

    /// Prepares `rules`. Rules with a duplicate id after the first (in evaluation order) are unreachable by
    /// id, which only matters for timers and manual runs; stores keep ids unique anyway.
    package init(_ rules: [Rule]) {
        let sorted = rules.sorted { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
        var byTrigger: [TriggerType: [Int]] = [:]
        var stageRulesByStage: [Int64: [Int]] = [:]
        var stageRulesAnyStage: [Int] = []
        var byID: [String: Int] = [:]
        var timedByAnchor: [TimeAnchor: [Int]] = [:]
        var timedByCancel: [TimerCancel: [Int]] = [:]
        var patterns: [String: BoundedPattern] = [:]
        var patternErrors: [String: PatternError] = [:]
        /// Compiles `source` once, keeping the pattern or the reason it was refused.
        func compile(_ source: String) {
            guard patterns[source] == nil, patternErrors[source] == nil else { return }
            do {
                patterns[source] = try BoundedPattern(source)
            } catch {
                patternErrors[source] = error
            }
        }
        var fieldRefs: [String: FieldRef] = [:]
        var foldedTexts: [String: String] = [:]
        for (index, rule) in sorted.enumerated() {
            byTrigger[rule.trigger.type, default: []].append(index)
            if rule.trigger.type == .stageChanged {
                if let stage = rule.trigger.stageID { stageRulesByStage[stage, default: []].append(index) } else { stageRulesAnyStage.append(index) }
            }
            if byID[rule.id] == nil { byID[rule.id] = index }
            if rule.enabled, rule.trigger.type == .timeBased, let anchor = rule.trigger.anchor {
                timedByAnchor[anchor, default: []].append(index)
                for cancel in Set(rule.trigger.effectiveCancelOn) {
                    timedByCancel[cancel, default: []].append(index)
                }
            }
            Self.visitLeaves(of: rule.conditions) { leaf in
                switch leaf {
                case .fieldValue(let leaf):
                    if fieldRefs[leaf.field] == nil, let parsed = FieldRef(leaf.field) { fieldRefs[leaf.field] = parsed }
                    if let value = leaf.value {
                        if leaf.op == .matches {
                            compile(value)
                        } else if foldedTexts[value] == nil {
                            foldedTexts[value] = TextFold.fold(value)
                        }
                    }
                case .messageText(let leaf):
                    if let source = leaf.pattern { compile(source) }
                    for keyword in leaf.keywords ?? [] where foldedTexts[keyword] == nil {
                        foldedTexts[keyword] = TextFold.fold(keyword)
                    }
                case .messageOrigin(let leaf):
                    for origin in leaf.origins where foldedTexts[origin] == nil {
                        foldedTexts[origin] = TextFold.fold(origin)
                    }
                default:
                    break
                }
            }
        }
        self.rules = sorted
        self.byTrigger = byTrigger
        self.stageRulesByStage = stageRulesByStage
        self.stageRulesAnyStage = stageRulesAnyStage
        self.byID = byID
        self.timedByAnchor = timedByAnchor
        self.timedByCancel = timedByCancel
        self.patterns = patterns
        self.patternErrors = patternErrors
        self.fieldRefs = fieldRefs
        self.foldedTexts = foldedTexts
    }

    /// How many rules the set holds.
    package var count: Int { rules.count }

    /// The rule with `id`.
    package func rule(id: String) -> Rule? { byID[id].map { rules[$0] } }

    /// Positions in `rules` of the rules an event can start, in evaluation order.
    func candidates(for event: KommoEvent) -> [Int] {
        switch event.type {
        case .leadCreated: byTrigger[.leadCreated] ?? []
        case .leadUpdated, .responsibleChanged, .noteAdded: byTrigger[.leadUpdated] ?? []
        case .stageChanged:
            // Both lists are in evaluation order; merging keeps it.
            Self.merge(event.statusID.flatMap { stageRulesByStage[$0] } ?? [], stageRulesAnyStage)
        case .messageReceived: byTrigger[.messageReceived] ?? []
        case .leadMailIn: byTrigger[.leadMailIn] ?? []
        case .leadCallIn: byTrigger[.leadCallIn] ?? []
        case .leadChat: byTrigger[.leadChat] ?? []
        case .leadSiteVisit: byTrigger[.leadSiteVisit] ?? []
        case .customerPeriod: byTrigger[.customerPeriod] ?? []
        case .timerFired: event.ruleID.flatMap { byID[$0] }.map { [$0] } ?? []
        case .manualRun:
            if let ruleID = event.ruleID { byID[ruleID].map { [$0] } ?? [] } else { byTrigger[.manual] ?? [] }
        default: []
        }
    }

    private static func merge(_ a: [Int], _ b: [Int]) -> [Int] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var result: [Int] = []
        result.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i] < b[j]) { result.append(a[i]); i += 1 } else { result.append(b[j]); j += 1 }
        }
        return result
    }

    /// Positions of the enabled time-based rules counting from `anchor`.
    func timed(anchor: TimeAnchor) -> [Int] { timedByAnchor[anchor] ?? [] }

    /// Positions of the enabled time-based rules that `cancel` voids.
    func timed(cancelledBy cancel: TimerCancel) -> [Int] { timedByCancel[cancel] ?? [] }

    /// The compiled pattern for `source`; compiled on the spot for a pattern the set has not seen (a
    /// condition evaluated outside its rule). Throws why the pattern does not compile.
    func pattern(_ source: String) throws(PatternError) -> BoundedPattern {
        if let compiled = patterns[source] { return compiled }
        if let error = patternErrors[source] { throw error }
        return try BoundedPattern(source)
    }

    /// The parsed field reference for `text`; parsed on the spot when the set has not seen it.
    func fieldRef(_ text: String) -> FieldRef? {
        fieldRefs[text] ?? FieldRef(text)
    }

    /// `text` folded (see `TextFold.fold`); folded on the spot when the set has not seen it.
    func folded(_ text: String) -> String {
        foldedTexts[text] ?? TextFold.fold(text)
    }

    /// Calls `visit` for every leaf of a condition tree.
    static func visitLeaves(of condition: Condition?, _ visit: (Condition) -> Void) {
        guard let condition else { return }
        switch condition {
        case .all(let children), .any(let children): children.forEach { visitLeaves(of: $0, visit) }
        case .not(let child): visitLeaves(of: child, visit)
        default: visit(condition)
        }
    }
}
