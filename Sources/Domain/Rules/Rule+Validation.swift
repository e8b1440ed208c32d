import Foundation

// MARK: - Context

/// What validation may check against, supplied by rules-service. Every part is optional: an empty pipeline
/// catalog or a missing predicate means "unknown", and the related checks are skipped rather than failed.
package struct ValidationContext: Sendable {
    /// Pipeline id → its stage ids, from Kommo's pipeline list. Empty when not (yet) known.
    package var pipelines: [Int64: Set<Int64>]
    /// Whether a sequence id exists for this tenant.
    package var sequenceExists: (@Sendable (String) -> Bool)?
    /// Whether a sales script id exists for this tenant.
    package var scriptExists: (@Sendable (String) -> Bool)?

    /// Creates a context.
    package init(
        pipelines: [Int64: Set<Int64>] = [:],
        sequenceExists: (@Sendable (String) -> Bool)? = nil,
        scriptExists: (@Sendable (String) -> Bool)? = nil
    ) {
        self.pipelines = pipelines; self.sequenceExists = sequenceExists; self.scriptExists = scriptExists
    }
}

// MARK: - Rule validation

extension Rule {
    /// Everything that would keep this rule from running as written, each with the JSON path of the culprit.
    /// An empty list means the rule can be stored.
    package func validate(in context: ValidationContext = .init()) -> [RuleProblem] {
        var problems = RuleProblems(context: context)
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
    package func validate(at path: String = "conditions", in context: ValidationContext = .init()) -> [RuleProblem] {
        var problems = RuleProblems(context: context)
        var nodes = 0
        problems.check(self, at: path, depth: 1, nodes: &nodes)
        return problems.list
    }
}

extension Action {
    /// Problems of one action on its own; paths start at `path`.
    package func validate(at path: String = "action", in context: ValidationContext = .init()) -> [RuleProblem] {
        var problems = RuleProblems(context: context)
        problems.check(self, at: path)
        return problems.list
    }
}

// MARK: - Collector

/// Accumulates problems while walking a rule.
struct RuleProblems {
    /// What the checks may consult.
    let context: ValidationContext
    /// The problems found so far, in walk order.
    private(set) var list: [RuleProblem] = []

    /// An empty collector.
    init(context: ValidationContext) { self.context = context }

    /// Records a problem.
    mutating func add(_ field: String, _ message: String) {
        list.append(RuleProblem(field: field, message: message))
    }

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
            if let hours = leaf.hours { list += hours.problems(at: "\(path).hours") }
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

    // MARK: Actions

    /// Checks that an action has what its type needs and nothing its type ignores.
    mutating func check(_ action: Action, at path: String) {
        for key in action.setKeys where !action.type.usedKeys.contains(key) {
            add("\(path).\(key.rawValue)", "is not used by \(action.type.rawValue)")
        }
        switch action.type {
        case .sendMessage:
            switch (action.text, action.scriptID) {
            case (nil, nil): add("\(path).text", "a send_message needs text or script_id")
            case (.some, .some): add("\(path).script_id", "give either text or script_id, not both")
            default: break
            }
            if let text = action.text { checkTemplate(text, at: "\(path).text", required: true) }
            if let script = action.scriptID { checkScript(script, at: "\(path).script_id") }
        case .aiResponse:
            if let instructions = action.instructions { checkTemplate(instructions, at: "\(path).instructions", required: false) }
            if let script = action.scriptID { checkScript(script, at: "\(path).script_id") }
        case .createTask:
            checkTemplate(action.text, at: "\(path).text", required: true)
            if let due = action.dueInSeconds {
                if due < 0 || due > Limits.maxSeconds {
                    add("\(path).due_in_seconds", "must be between 0 and \(Limits.maxSeconds)")
                }
            } else {
                // Kommo refuses a task without `complete_till`.
                add("\(path).due_in_seconds", "is required: Kommo tasks need a deadline")
            }
            if let taskType = action.taskType, taskType < 1 { add("\(path).task_type", "must be a Kommo task type id (1 call, 2 meeting, …)") }
        case .addNote:
            checkTemplate(action.text, at: "\(path).text", required: true)
        case .changeStage:
            if action.stageID == nil {
                add("\(path).stage_id", "is required for change_stage")
            } else {
                checkStage(pipelineID: action.pipelineID, stageID: action.stageID,
                           pipelinePath: "\(path).pipeline_id", stagePath: "\(path).stage_id")
            }
        case .setField:
            if let field = action.field {
                if FieldRef(field) == nil { add("\(path).field", "must name a field, e.g. price or cf.Budget") }
            } else {
                add("\(path).field", "is required for set_field")
            }
            if action.value == nil { add("\(path).value", "is required for set_field (use \"\" to clear)") }
        case .addTags, .removeTags:
            let tags = action.tags ?? []
            if tags.isEmpty { add("\(path).tags", "must list at least one tag") }
            guard checkCount(tags, at: "\(path).tags", limit: Limits.tagItems, noun: "tags") else { return }
            for (index, tag) in tags.enumerated() where checkLength(tag, at: "\(path).tags[\(index)]", limit: Limits.tagLength) {
                if tag.trimmingCharacters(in: .whitespaces).isEmpty { add("\(path).tags[\(index)]", "must not be blank") }
            }
        case .webhook:
            if let url = action.url, checkLength(url, at: "\(path).url", limit: Limits.urlLength) {
                if let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
                   scheme == "http" || scheme == "https", !(parsed.host ?? "").isEmpty {
                    // A well-formed absolute http(s) URL.
                } else {
                    add("\(path).url", "must be an absolute http or https URL")
                }
            } else if action.url == nil {
                add("\(path).url", "is required for webhook")
            }
            if let payload = action.payloadTemplate { checkTemplate(payload, at: "\(path).payload_template", required: false) }
        case .startSequence:
            if let sequence = action.sequenceID {
                checkSequence(sequence, at: "\(path).sequence_id")
            } else {
                add("\(path).sequence_id", "is required for start_sequence")
            }
        case .stopSequence:
            if let sequence = action.sequenceID { checkSequence(sequence, at: "\(path).sequence_id") }
        case .kommoAction:
            guard let operation = action.operation else {
                add("\(path).operation", "is required for kommo_action")
                return
            }
            let parameters = action.parameters ?? [:]
            if parameters.count > Limits.parameterItems {
                add("\(path).parameters", "has \(parameters.count) parameters; the limit is \(Limits.parameterItems)")
                return
            }
            for name in parameters.keys.sorted() {
                checkLength(name, at: "\(path).parameters", limit: Limits.tagLength)
                checkLength(parameters[name] ?? "", at: "\(path).parameters.\(name)", limit: Limits.valueLength)
            }
            for name in operation.requiredParameters where (parameters[name] ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                add("\(path).parameters.\(name)", "is required for \(operation.rawValue)")
            }
            if operation.needsSomeParameter, parameters.keys.allSatisfy({ $0 == "contact_id" }) {
                add("\(path).parameters", "must set at least one field for \(operation.rawValue)")
            }
            if let known = operation.fieldParameters {
                for name in parameters.keys.sorted() where !known.contains(name) && KommoOperation.customFieldID(name) == nil {
                    add("\(path).parameters.\(name)",
                        "is not a field \(operation.rawValue) sets (known: \(known.joined(separator: ", ")), or cf.<field id>)")
                }
            }
            for name in parameters.keys.sorted() where KommoOperation.integerParameters.contains(name) {
                if let value = parameters[name], !value.isEmpty, Int64(value) == nil {
                    add("\(path).parameters.\(name)", "must be an integer")
                }
            }
            if operation == .changeStage, let stage = parameters["status_id"].flatMap({ Int64($0) }) {
                checkStage(pipelineID: parameters["pipeline_id"].flatMap { Int64($0) }, stageID: stage,
                           pipelinePath: "\(path).parameters.pipeline_id", stagePath: "\(path).parameters.status_id")
            }
        }
    }

    // MARK: Shared checks

    /// Checks a template's presence, length and `{{ }}` syntax.
    mutating func checkTemplate(_ text: String?, at path: String, required: Bool) {
        guard let text else {
            if required { add(path, "is required") }
            return
        }
        if required, text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            add(path, "must not be empty")
        } else if text.count > Limits.templateLength {
            add(path, "must be at most \(Limits.templateLength) characters")
        } else if let problem = Self.templateProblem(in: text) {
            add(path, problem)
        }
    }

    /// The first `{{ }}` syntax error of a template, or `nil`. Rendering (and its stricter parse) happens
    /// in the executor; this catches the mistakes an editor makes most.
    static func templateProblem(in template: String) -> String? {
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                return "a {{ is never closed"
            }
            let name = afterOpen[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if name.isEmpty { return "a {{ }} names no variable" }
            if name.contains("{{") { return "a {{ opens inside another" }
            rest = afterOpen[close.upperBound...]
        }
        return nil
    }

    /// Refuses a list longer than `limit` ("has 80000 keywords; the limit is 100"); `true` when within it,
    /// so that callers skip checking each item of a list already refused.
    @discardableResult
    mutating func checkCount(_ items: some Collection, at path: String, limit: Int, noun: String) -> Bool {
        guard items.count > limit else { return true }
        add(path, "has \(items.count) \(noun); the limit is \(limit)")
        return false
    }

    /// Refuses a string longer than `limit` characters; `true` when within it. The UTF-8 length is checked
    /// first, so that a huge string is refused without counting its characters.
    @discardableResult
    mutating func checkLength(_ text: String, at path: String, limit: Int) -> Bool {
        guard text.utf8.count > limit, text.count > limit else { return true }
        add(path, "must be at most \(limit) characters")
        return false
    }

    /// Checks that a regular expression is accepted by `BoundedPattern`.
    mutating func checkPattern(_ pattern: String, at path: String) {
        do {
            _ = try BoundedPattern(pattern)
        } catch {
            add(path, error.description)
        }
    }

    /// Checks a sales script id against the context's predicate.
    mutating func checkScript(_ id: String, at path: String) {
        if id.isEmpty {
            add(path, "must not be empty")
        } else if let exists = context.scriptExists, !exists(id) {
            add(path, "no sales script \"\(id)\" exists")
        }
    }

    /// Checks a sequence id against the context's predicate.
    mutating func checkSequence(_ id: String, at path: String) {
        if id.isEmpty {
            add(path, "must not be empty")
        } else if let exists = context.sequenceExists, !exists(id) {
            add(path, "no sequence \"\(id)\" exists")
        }
    }

    /// Checks a pipeline id against the catalog.
    mutating func checkPipeline(_ pipeline: Int64?, at path: String) {
        guard let pipeline, !context.pipelines.isEmpty else { return }
        if context.pipelines[pipeline] == nil { add(path, "unknown pipeline \(pipeline)") }
    }

    /// A stage must belong to the given pipeline, or to some pipeline when none is given. Won (142) and
    /// lost (143) exist in every pipeline.
    mutating func checkStage(pipelineID: Int64?, stageID: Int64?, pipelinePath: String?, stagePath: String) {
        let catalog = context.pipelines
        if let pipelinePath { checkPipeline(pipelineID, at: pipelinePath) }
        guard !catalog.isEmpty, let stageID, stageID != KommoStage.won, stageID != KommoStage.lost else { return }
        if let pipelineID {
            guard let stages = catalog[pipelineID] else { return }
            if !stages.contains(stageID) {
                if let owner = catalog.keys.sorted().first(where: { catalog[$0]?.contains(stageID) == true }) {
                    add(stagePath, "stage \(stageID) belongs to pipeline \(owner), not \(pipelineID)")
                } else {
                    add(stagePath, "unknown stage \(stageID) in pipeline \(pipelineID)")
                }
            }
        } else if !catalog.values.contains(where: { $0.contains(stageID) }) {
            add(stagePath, "unknown stage \(stageID)")
        }
    }
}
