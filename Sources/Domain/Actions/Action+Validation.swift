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

// MARK: - Action validation

extension Action {
    /// Problems of one action on its own; paths start at `path`.
    package func validate(at path: String = "action", in context: ValidationContext = .init()) -> [FieldProblem] {
        var problems = FieldProblems(context: context)
        problems.check(self, at: path)
        return problems.list
    }
}

// MARK: - Collector

/// Accumulates problems while walking a rule, a sequence step or one action; the rule engine adds the
/// checks of triggers and conditions in its own module.
package struct FieldProblems {
    /// What the checks may consult.
    package let context: ValidationContext
    /// The problems found so far, in walk order.
    package private(set) var list: [FieldProblem] = []

    /// An empty collector.
    package init(context: ValidationContext) { self.context = context }

    /// Records a problem.
    package mutating func add(_ field: String, _ message: String) {
        list.append(FieldProblem(field: field, message: message))
    }

    /// Records problems found by a part's own validation.
    package mutating func add(_ problems: [FieldProblem]) {
        list += problems
    }

    // MARK: Actions

    /// Checks that an action has what its type needs and nothing its type ignores.
    package mutating func check(_ action: Action, at path: String) {
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
    package mutating func checkTemplate(_ text: String?, at path: String, required: Bool) {
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
    package static func templateProblem(in template: String) -> String? {
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
    package mutating func checkCount(_ items: some Collection, at path: String, limit: Int, noun: String) -> Bool {
        guard items.count > limit else { return true }
        add(path, "has \(items.count) \(noun); the limit is \(limit)")
        return false
    }

    /// Refuses a string longer than `limit` characters; `true` when within it. The UTF-8 length is checked
    /// first, so that a huge string is refused without counting its characters.
    @discardableResult
    package mutating func checkLength(_ text: String, at path: String, limit: Int) -> Bool {
        guard text.utf8.count > limit, text.count > limit else { return true }
        add(path, "must be at most \(limit) characters")
        return false
    }

    /// Checks a sales script id against the context's predicate.
    package mutating func checkScript(_ id: String, at path: String) {
        if id.isEmpty {
            add(path, "must not be empty")
        } else if let exists = context.scriptExists, !exists(id) {
            add(path, "no sales script \"\(id)\" exists")
        }
    }

    /// Checks a sequence id against the context's predicate.
    package mutating func checkSequence(_ id: String, at path: String) {
        if id.isEmpty {
            add(path, "must not be empty")
        } else if let exists = context.sequenceExists, !exists(id) {
            add(path, "no sequence \"\(id)\" exists")
        }
    }

    /// Checks a pipeline id against the catalog.
    package mutating func checkPipeline(_ pipeline: Int64?, at path: String) {
        guard let pipeline, !context.pipelines.isEmpty else { return }
        if context.pipelines[pipeline] == nil { add(path, "unknown pipeline \(pipeline)") }
    }

    /// A stage must belong to the given pipeline, or to some pipeline when none is given. Won (142) and
    /// lost (143) exist in every pipeline.
    package mutating func checkStage(pipelineID: Int64?, stageID: Int64?, pipelinePath: String?, stagePath: String) {
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
