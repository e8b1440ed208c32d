import Domain
import Foundation

// MARK: - Rule validation

extension Rule {
    /// Everything that would keep this rule from running as written, each with the JSON path of the culprit.
    /// An empty list means the rule can be stored.
    package func validate(in context: ValidationContext = .init()) -> [FieldProblem] {
        var problems = FieldProblems(context: context)
        let trimmedName = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmedName.isEmpty {
            problems.add("name", "must not be empty")
        } else {
            problems.checkLength(name, at: "name", limit: Limits.nameLength)
        }
        if cooldownSeconds < 0 || cooldownSeconds > Limits.maxSeconds {
            problems.add("cooldown_seconds", "must be between 0 and \(Limits.maxSeconds)")
        }
        if let maxFiresPerLead, maxFiresPerLead < 1 {
            problems.add("max_fires_per_lead", "must be at least 1, or absent for no limit")
        }
        problems.check(trigger, at: "trigger")
        if let conditions {
            var nodes = 0
            problems.check(conditions, at: "conditions", depth: 1, nodes: &nodes)
            if nodes > Limits.conditionNodes {
                problems.add("conditions", "has \(nodes) conditions; the limit is \(Limits.conditionNodes)")
            }
        }
        if actions.isEmpty {
            problems.add("actions", "must contain at least one action")
        } else if actions.count > Limits.actions {
            problems.add("actions", "has \(actions.count) actions; the limit is \(Limits.actions)")
        }
        for (index, action) in actions.prefix(Limits.actions).enumerated() {
            problems.check(action, at: "actions[\(index)]")
        }
        return problems.list
    }
}

extension Condition {
    /// Problems of a condition tree on its own (for editors that validate a fragment); paths start at `path`.
    package func validate(at path: String = "conditions", in context: ValidationContext = .init()) -> [FieldProblem] {
        var problems = FieldProblems(context: context)
        var nodes = 0
        problems.check(self, at: path, depth: 1, nodes: &nodes)
        return problems.list
    }
}

// MARK: - Triggers and conditions

extension FieldProblems {
    // MARK: Trigger

    /// Checks that the trigger's keys fit its type and its stage filter fits the catalog.
    mutating func check(_ trigger: Trigger, at path: String) {
        let isTimed = trigger.type == .timeBased
        if isTimed {
            if trigger.anchor == nil { add("\(path).anchor", "is required for a time_based trigger") }
            if let seconds = trigger.afterSeconds {
                if seconds <= 0 || seconds > Limits.maxSeconds {
                    add("\(path).after_seconds", "must be between 1 and \(Limits.maxSeconds)")
                }
            } else {
                add("\(path).after_seconds", "is required for a time_based trigger")
            }
            if let cancelOn = trigger.cancelOn, Set(cancelOn).count != cancelOn.count {
                add("\(path).cancel_on", "lists an event twice")
            }
            if trigger.anchor != .stageEntered, trigger.anchor != nil, trigger.pipelineID != nil || trigger.stageID != nil {
                add(trigger.stageID != nil ? "\(path).stage_id" : "\(path).pipeline_id",
                    "a stage filter needs the stage_entered anchor")
            }
        } else {
            if trigger.anchor != nil { add("\(path).anchor", "is only used by time_based triggers") }
            if trigger.afterSeconds != nil { add("\(path).after_seconds", "is only used by time_based triggers") }
            if trigger.cancelOn != nil { add("\(path).cancel_on", "is only used by time_based triggers") }
            if trigger.type != .stageChanged, trigger.pipelineID != nil || trigger.stageID != nil {
                add(trigger.stageID != nil ? "\(path).stage_id" : "\(path).pipeline_id",
                    "a stage filter is only used by stage_changed and time_based triggers")
            }
        }
        checkStage(pipelineID: trigger.pipelineID, stageID: trigger.stageID,
                   pipelinePath: "\(path).pipeline_id", stagePath: "\(path).stage_id")
    }

    // MARK: Conditions

    /// Checks a condition node and its children, counting nodes for the size limit.
    mutating func check(_ condition: Condition, at path: String, depth: Int, nodes: inout Int) {
        nodes += 1
        if depth > Limits.conditionDepth {
            add(path, "nests deeper than \(Limits.conditionDepth) levels")
            return
        }
        switch condition {
        case .all(let children), .any(let children):
            let group = if case .all = condition { "all" } else { "any" }
            if children.isEmpty { add("\(path).\(group)", "must contain at least one condition") }
            guard checkCount(children, at: "\(path).\(group)", limit: Limits.groupItems, noun: "conditions") else { return }
            for (index, child) in children.enumerated() {
                check(child, at: "\(path).\(group)[\(index)]", depth: depth + 1, nodes: &nodes)
            }
        case .not(let child):
            check(child, at: "\(path).not", depth: depth + 1, nodes: &nodes)
        case .fieldValue(let leaf):
            check(leaf, at: path)
        case .timeElapsed(let leaf):
            if !FieldOperator.ordering.contains(leaf.op) {
                add("\(path).operator", "\(leaf.op.rawValue) cannot compare durations; use gt, gte, lt or lte")
            }
            if leaf.seconds < 0 || leaf.seconds > Limits.maxSeconds {
                add("\(path).seconds", "must be between 0 and \(Limits.maxSeconds)")
            }
        case .stageIs(let leaf):
            if leaf.stageIDs.isEmpty { add("\(path).stage_ids", "must name at least one stage") }
            guard checkCount(leaf.stageIDs, at: "\(path).stage_ids", limit: Limits.idItems, noun: "stages") else { return }
            checkPipeline(leaf.pipelineID, at: "\(path).pipeline_id")
            for (index, stage) in leaf.stageIDs.enumerated() {
                checkStage(pipelineID: leaf.pipelineID, stageID: stage, pipelinePath: nil, stagePath: "\(path).stage_ids[\(index)]")
            }
        case .pipelineIs(let leaf):
            if leaf.pipelineIDs.isEmpty { add("\(path).pipeline_ids", "must name at least one pipeline") }
            guard checkCount(leaf.pipelineIDs, at: "\(path).pipeline_ids", limit: Limits.idItems, noun: "pipelines") else { return }
            for (index, pipeline) in leaf.pipelineIDs.enumerated() {
                checkPipeline(pipeline, at: "\(path).pipeline_ids[\(index)]")
            }
        case .messageText(let leaf):
            switch leaf.op {
            case .containsAny:
                let keywords = leaf.keywords ?? []
                if keywords.isEmpty { add("\(path).keywords", "must list at least one keyword for contains_any") }
                if checkCount(keywords, at: "\(path).keywords", limit: Limits.keywordItems, noun: "keywords") {
                    for (index, keyword) in keywords.enumerated() where checkLength(keyword, at: "\(path).keywords[\(index)]", limit: Limits.keywordLength) {
                        if TextFold.fold(keyword).isEmpty { add("\(path).keywords[\(index)]", "must not be blank") }
                    }
                }
                if leaf.pattern != nil { add("\(path).pattern", "is only used by the matches operator") }
            case .matches:
                if let pattern = leaf.pattern {
                    checkPattern(pattern, at: "\(path).pattern")
                } else {
                    add("\(path).pattern", "is required for the matches operator")
                }
                if leaf.keywords != nil { add("\(path).keywords", "is only used by the contains_any operator") }
            }
        case .messageOrigin(let leaf):
            if leaf.origins.isEmpty { add("\(path).origins", "must name at least one channel") }
            guard checkCount(leaf.origins, at: "\(path).origins", limit: Limits.valueItems, noun: "channels") else { return }
            for (index, origin) in leaf.origins.enumerated() where checkLength(origin, at: "\(path).origins[\(index)]", limit: Limits.valueLength) {
                if TextFold.fold(origin).isEmpty { add("\(path).origins[\(index)]", "must not be blank") }
            }
        case .withinWorkingHours(let leaf):
            if let hours = leaf.hours { add(hours.problems(at: "\(path).hours")) }
        case .responsibleUserIs(let leaf):
            if leaf.userIDs.isEmpty { add("\(path).user_ids", "must name at least one user") }
            checkCount(leaf.userIDs, at: "\(path).user_ids", limit: Limits.idItems, noun: "users")
        case .inboundMessageCount(let leaf):
            if !FieldOperator.counting.contains(leaf.op) {
                add("\(path).operator", "\(leaf.op.rawValue) cannot compare counts; use equals, not_equals, gt, gte, lt or lte")
            }
            if leaf.count < 0 { add("\(path).count", "must not be negative") }
        }
    }

    /// Checks that a `field_value` leaf has the operand its operator needs, and only that.
    mutating func check(_ leaf: FieldValueCondition, at path: String) {
        if FieldRef(leaf.field) == nil {
            add("\(path).field", "must name a field, e.g. price, cf.Budget, cf.123456 or contact.cf.Email")
        }
        let op = leaf.op
        if FieldOperator.unary.contains(op) {
            if leaf.value != nil { add("\(path).value", "is not used by the \(op.rawValue) operator") }
            if leaf.values != nil { add("\(path).values", "is not used by the \(op.rawValue) operator") }
            return
        }
        if let values = leaf.values, checkCount(values, at: "\(path).values", limit: Limits.valueItems, noun: "values") {
            for (index, value) in values.enumerated() { checkLength(value, at: "\(path).values[\(index)]", limit: Limits.valueLength) }
        }
        if let value = leaf.value, op != .matches { checkLength(value, at: "\(path).value", limit: Limits.valueLength) }
        if FieldOperator.listOperators.contains(op) {
            if leaf.values?.isEmpty ?? true { add("\(path).values", "must list at least one value for \(op.rawValue)") }
            if leaf.value != nil { add("\(path).value", "is not used by \(op.rawValue); list the values in values") }
            return
        }
        if leaf.values != nil { add("\(path).values", "is only used by in and not_in") }
        guard let value = leaf.value else {
            add("\(path).value", "is required for the \(op.rawValue) operator")
            return
        }
        if FieldOperator.ordering.contains(op), TextFold.number(value) == nil {
            add("\(path).value", "must be a number for \(op.rawValue)")
        }
        if op == .matches { checkPattern(value, at: "\(path).value") }
        if [.contains, .notContains, .startsWith].contains(op), TextFold.fold(value).isEmpty {
            add("\(path).value", "must not be blank for \(op.rawValue)")
        }
    }

    /// Checks that a regular expression is accepted by `BoundedPattern`.
    mutating func checkPattern(_ pattern: String, at path: String) {
        do {
            _ = try BoundedPattern(pattern)
        } catch {
            add(path, error.description)
        }
    }
}

// MARK: - Decoding

extension RuleJSON {
    /// Decodes a rule and validates it, returning every problem of either step.
    package static func decodeValidRule(from data: Data, context: ValidationContext = .init()) throws(RuleValidationError) -> Rule {
        let rule = try decode(Rule.self, from: data)
        let problems = rule.validate(in: context)
        guard problems.isEmpty else { throw RuleValidationError(problems: problems) }
        return rule
    }
}
