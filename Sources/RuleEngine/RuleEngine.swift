import Domain
import Foundation

/// The rule engine: a pure function from (event, rules, agent gates, lead facts, rule states, own writes,
/// now) to a `Decision`. It reads no clock and does no I/O, so the same inputs always give the same
/// decision; rules-service supplies the inputs from its store and stores the outputs.
///
/// For each event it:
/// 1. applies the event to the lead's facts (stage and when it was entered, message times and count,
///    field values), remembering which fields changed and which anchors moved;
/// 2. evaluates the rules the event's trigger reaches, in priority order, checking in turn: enabled,
///    trigger details, timer freshness (for `timer_fired`), agent paused, agent scope, stop-processing of a
///    higher-priority rule, loop guard, cascade bound, cooldown, fire limit, conditions; and explains each
///    outcome;
/// 3. arms a timer for every enabled time-based rule whose anchor moved, and drops timers that an event
///    made pointless.
package struct RuleEngine: Sendable {
    /// Tunables; the defaults suit production.
    package struct Options: Sendable, Hashable {
        /// How long after our own write an echo of it is recognised. Kommo usually echoes within seconds,
        /// but retries its webhooks after 5 and 15 minutes.
        package var loopGuardWindow: TimeInterval
        /// A timer arriving this early still counts as due: schedulers store times with less precision
        /// than `Date`, and refusing a timer one millisecond early would re-arm it forever.
        package var timerTolerance: TimeInterval
        /// Work units one rule may spend on one event (see `Limits.ruleBudget`).
        package var ruleBudget: Int
        /// Work units all rules together may spend on one event (see `Limits.eventBudget`).
        package var eventBudget: Int
        /// The deepest chain of our own writes rules may fire on (see ``Cascade``): an event that echoes
        /// a chain of more writes than this, made within `cascadeWindow`, fires no rule (`loop_guard`).
        /// With 3, a manager's change can set off at most four writes of ours in a row.
        package var cascadeMaxDepth: Int
        /// The time window a chain's depth counts in: steps older than this no longer count.
        package var cascadeWindow: TimeInterval

        /// The default of `cascadeMaxDepth`.
        package static let defaultCascadeMaxDepth = 3
        /// The default of `cascadeWindow`: an hour.
        package static let defaultCascadeWindow: TimeInterval = 60 * 60

        /// Creates options.
        package init(
            loopGuardWindow: TimeInterval = 20 * 60, timerTolerance: TimeInterval = 1,
            ruleBudget: Int = Limits.ruleBudget, eventBudget: Int = Limits.eventBudget,
            cascadeMaxDepth: Int = Options.defaultCascadeMaxDepth, cascadeWindow: TimeInterval = Options.defaultCascadeWindow
        ) {
            self.loopGuardWindow = loopGuardWindow
            self.timerTolerance = timerTolerance
            self.ruleBudget = ruleBudget
            self.eventBudget = eventBudget
            self.cascadeMaxDepth = cascadeMaxDepth
            self.cascadeWindow = cascadeWindow
        }
    }

    /// The engine's tunables.
    package var options: Options

    /// Creates an engine.
    package init(options: Options = Options()) { self.options = options }

    /// Evaluates `event` against a prepared rule set.
    ///
    /// - Parameters:
    ///   - rules: the tenant's prepared rules (all agents).
    ///   - agents: the tenant's agent gates; a rule whose agent is missing is treated as paused.
    ///   - facts: the stored facts of the event's lead, `nil` when none are stored yet.
    ///   - states: the firing state of each rule for this lead, by rule id.
    ///   - ownWrites: recent writes of ours to this lead (others are ignored): the loop guard and the
    ///     cascade bound read them.
    ///   - now: the evaluation time; cooldowns, timers, elapsed times and working hours use it.
    ///   - dryRun: also explain rules the trigger did not reach (costs a pass over all rules). The decision
    ///     is flagged so that nothing in it is executed or stored.
    package func evaluate(
        event: KommoEvent, rules: RuleSet, agents: [AgentGate], facts: LeadFacts?,
        states: [String: RuleState], ownWrites: [OwnWrite], now: Date, dryRun: Bool = false
    ) -> Decision {
        let update = FactsUpdate.apply(event, to: facts, now: now)
        var decision = Decision(
            eventID: event.id, leadID: event.leadID, evaluatedAt: now, dryRun: dryRun,
            facts: update.isStored ? update.facts : nil
        )
        let gates = Dictionary(agents.map { ($0.agentID, $0) }, uniquingKeysWith: { first, _ in first })
        let echoes = echoedWrites(of: event, update: update, ownWrites: ownWrites, now: now)
        let cascade = cascadeVerdict(for: event, update: update, ownWrites: ownWrites, now: now)
        decision.cascade = cascade
        let candidates = rules.candidates(for: event)
        // Prepared once for all the rules that may read it, and not at all when no rule runs.
        let messageText = event.type == .messageReceived ? event.message?.text : update.facts.lastInboundText
        let message = candidates.isEmpty ? nil : messageText.map(MessageTextView.init)
        var stoppers: [String: Rule] = [:]
        var timerKeys: Set<String> = []
        let meter = WorkMeter(ruleLimit: options.ruleBudget, eventLimit: options.eventBudget)

        for index in candidates {
            let rule = rules.rules[index]
            meter.startRule()
            let verdict = judge(
                rule, event: event, update: update, gate: gates[rule.agentID], stopper: stoppers[rule.agentID],
                echo: echoes[rule.id], cascade: cascade, state: states[rule.id], now: now, rules: rules, message: message,
                meter: meter
            )
            decision.explanations.append(verdict.explanation)
            if verdict.cascadeStop { decision.cascade?.stopped = true }
            if let timer = verdict.rearm, timerKeys.insert(timer.key).inserted {
                decision.timers.append(timer)
            }
            guard verdict.explanation.outcome == .fired else { continue }
            for (position, action) in rule.actions.enumerated() {
                decision.actions.append(PlannedAction(
                    eventID: event.id, ruleID: rule.id, agentID: rule.agentID, actionIndex: position,
                    leadID: event.leadID, action: action
                ))
            }
            let previous = states[rule.id] ?? RuleState()
            decision.stateUpdates[rule.id] = RuleState(lastFiredAt: now, fireCount: previous.fireCount + 1)
            if rule.stopProcessing, stoppers[rule.agentID] == nil {
                stoppers[rule.agentID] = rule
            }
        }

        if dryRun {
            let reached = Set(candidates)
            for (index, rule) in rules.rules.enumerated() where !reached.contains(index) {
                // Rules the index skipped: say precisely why (another stage, another trigger).
                let detail = triggerMismatch(rule.trigger, event: event, facts: update.facts)
                    ?? "the rule waits for \(rule.trigger.type.rawValue); this event is \(event.type.rawValue)\(event.ruleID.map { " for rule \($0)" } ?? "")"
                decision.explanations.append(RuleExplanation(
                    ruleID: rule.id, agentID: rule.agentID, outcome: .triggerMismatch, detail: detail
                ))
            }
        }

        planTimers(for: event, update: update, rules: rules, into: &decision, skipping: &timerKeys)
        return decision
    }

    /// Evaluates `event` against rules that are not prepared yet (a draft rule in the editor, a test).
    /// Prefer preparing a `RuleSet` once per tenant.
    package func evaluate(
        event: KommoEvent, rules: [Rule], agents: [AgentGate], facts: LeadFacts?,
        states: [String: RuleState] = [:], ownWrites: [OwnWrite] = [], now: Date, dryRun: Bool = false
    ) -> Decision {
        evaluate(event: event, rules: RuleSet(rules), agents: agents, facts: facts, states: states,
                 ownWrites: ownWrites, now: now, dryRun: dryRun)
    }

    // MARK: - One rule

    /// An explanation and, for a timer that came back too early, the timer to arm instead.
    struct Verdict {
        /// Why the rule fired or did not.
        var explanation: RuleExplanation
        /// The timer to arm instead of one that came back too early.
        var rearm: PlannedTimer?
        /// The cascade bound stopped the rule.
        var cascadeStop = false
    }

    /// Runs the checks for one rule in order and explains the first that stops it, or explains the firing.
    func judge(
        _ rule: Rule, event: KommoEvent, update: FactsUpdate, gate: AgentGate?, stopper: Rule?,
        echo: OwnWrite?, cascade: CascadeVerdict? = nil, state: RuleState?, now: Date, rules: RuleSet, message: MessageTextView?,
        meter: WorkMeter = WorkMeter(ruleLimit: Limits.ruleBudget, eventLimit: Limits.eventBudget)
    ) -> Verdict {
        func explain(_ outcome: RuleOutcome, _ detail: String, leaf: FailingLeaf? = nil, until: Date? = nil, blockedBy: String? = nil) -> Verdict {
            Verdict(explanation: RuleExplanation(
                ruleID: rule.id, agentID: rule.agentID, outcome: outcome, detail: detail,
                failingLeaf: leaf, until: until, blockedBy: blockedBy
            ))
        }
        let facts = update.facts

        guard rule.enabled else { return explain(.disabled, "the rule is disabled") }
        if let mismatch = triggerMismatch(rule.trigger, event: event, facts: facts) {
            return explain(.triggerMismatch, mismatch)
        }
        if event.type == .timerFired, rule.trigger.type == .timeBased {
            if let verdict = timerCheck(rule, event: event, facts: facts, now: now) { return verdict }
        }

        guard let gate else { return explain(.agentPaused, "agent \(rule.agentID) is unknown, so its rules do not run") }
        if gate.paused { return explain(.agentPaused, "agent \(rule.agentID) is paused") }
        if !gate.pipelineIDs.isEmpty, !(facts.pipelineID.map(gate.pipelineIDs.contains) ?? false) {
            return explain(.agentScope, "the lead is in pipeline \(facts.pipelineID.map(String.init) ?? "unknown"); agent \(rule.agentID) works in pipelines \(Self.list(gate.pipelineIDs))")
        }
        if !gate.stageIDs.isEmpty, !(facts.stageID.map(gate.stageIDs.contains) ?? false) {
            return explain(.agentScope, "the lead is in stage \(facts.stageID.map(String.init) ?? "unknown"); agent \(rule.agentID) works in stages \(Self.list(gate.stageIDs))")
        }

        if let stopper, stopper.priority > rule.priority {
            return explain(.stoppedByPriority, "rule \(stopper.id) (priority \(stopper.priority)) fired and stops lower-priority rules of the agent", blockedBy: stopper.id)
        }
        if let echo {
            return explain(.loopGuard, "this event echoes the \(Self.describe(echo)) this rule wrote at \(RuleDate.string(echo.at))", blockedBy: echo.ruleID)
        }
        if let cascade, cascade.exceeded {
            var verdict = explain(.loopGuard, Self.cascadeDetail(cascade, rules: rules), blockedBy: cascade.chain.steps.last?.ruleID)
            verdict.cascadeStop = true
            return verdict
        }
        if rule.cooldownSeconds > 0, let last = state?.lastFiredAt {
            let until = last.addingTimeInterval(TimeInterval(rule.cooldownSeconds))
            if until > now {
                return explain(.cooldown, "the rule fired for this lead at \(RuleDate.string(last)); cooldown until \(RuleDate.string(until))", until: until)
            }
        }
        if let limit = rule.maxFiresPerLead, let count = state?.fireCount, count >= limit {
            return explain(.maxFires, "the rule fired \(count) times for this lead; the limit is \(limit)")
        }
        if let conditions = rule.conditions {
            if meter.eventSpent {
                return explain(.budgetExceeded, "not evaluated: the rules before it spent this event's evaluation budget of \(meter.eventLimit) work units; make the tenant's rules cheaper (fewer keywords and conditions)")
            }
            let evaluator = ConditionEvaluator(
                event: event, facts: facts, changes: update.changes, now: now,
                workingHours: gate.workingHours, rules: rules, message: message, meter: meter
            )
            let verdict = evaluator.evaluate(conditions)
            if meter.exhausted {
                return explain(.budgetExceeded, meter.explanation)
            }
            if !verdict.holds {
                return explain(.conditionFalse, "\(verdict.leaf.path): \(verdict.leaf.reason)", leaf: verdict.leaf)
            }
        }
        let count = rule.actions.count
        return explain(.fired, "fired; \(count) action\(count == 1 ? "" : "s") planned")
    }

    /// Why the event is not what the rule waits for, or `nil` when it is.
    func triggerMismatch(_ trigger: Trigger, event: KommoEvent, facts: LeadFacts) -> String? {
        // An operator running one rule by hand runs it whatever its trigger; its conditions still apply.
        if event.type == .manualRun, event.ruleID != nil { return nil }
        switch trigger.type {
        case .stageChanged:
            guard event.type == .stageChanged else { return "the rule waits for stage_changed; this event is \(event.type.rawValue)" }
            let pipeline = event.pipelineID ?? facts.pipelineID
            if let wanted = trigger.pipelineID, pipeline != wanted {
                return "the lead moved within pipeline \(pipeline.map(String.init) ?? "unknown"); the rule waits for pipeline \(wanted)"
            }
            if let wanted = trigger.stageID, event.statusID != wanted {
                return "the lead moved into stage \(event.statusID.map(String.init) ?? "unknown"); the rule waits for stage \(wanted)"
            }
            return nil
        case .messageReceived:
            guard event.type == .messageReceived else { return "the rule waits for message_received; this event is \(event.type.rawValue)" }
            if event.message?.direction.lowercased() == "outgoing" {
                return "the message is outgoing; the rule waits for incoming messages"
            }
            return nil
        case .timeBased:
            guard event.type == .timerFired else {
                return "the rule is time_based and runs only when its timer fires; this event is \(event.type.rawValue)"
            }
            // The timer was armed when the lead entered the stage; if it has left since, the wait is over.
            if trigger.anchor == .stageEntered {
                if let wanted = trigger.pipelineID, facts.pipelineID != wanted {
                    return "the lead is now in pipeline \(facts.pipelineID.map(String.init) ?? "unknown"); the rule waits in pipeline \(wanted)"
                }
                if let wanted = trigger.stageID, facts.stageID != wanted {
                    return "the lead is now in stage \(facts.stageID.map(String.init) ?? "unknown"); the rule waits in stage \(wanted)"
                }
            }
            return nil
        case .manual:
            return event.type == .manualRun ? nil : "the rule runs only by hand; this event is \(event.type.rawValue)"
        case .leadCreated:
            return event.type == .leadCreated ? nil : "the rule waits for lead_created; this event is \(event.type.rawValue)"
        case .leadMailIn, .leadCallIn, .leadChat, .leadSiteVisit, .customerPeriod:
            return event.type.rawValue == trigger.type.rawValue ? nil
                : "the rule waits for \(trigger.type.rawValue); this event is \(event.type.rawValue)"
        case .leadUpdated:
            guard [.leadUpdated, .responsibleChanged, .noteAdded].contains(event.type) else {
                return "the rule waits for lead_updated; this event is \(event.type.rawValue)"
            }
            // Contacts and tasks have notes and responsible users too; they are not changes of the lead.
            let entity = event.entityType.lowercased()
            return entity == "lead" ? nil : "the \(event.type.rawValue) event is about a \(entity), not the lead"
        }
    }

    /// For a returning timer: is it due for the anchor as it is now, and did nothing void it since the
    /// anchor? `nil` means the timer stands.
    func timerCheck(_ rule: Rule, event: KommoEvent, facts: LeadFacts, now: Date) -> Verdict? {
        let trigger = rule.trigger
        func explain(_ outcome: RuleOutcome, _ detail: String, until: Date? = nil, rearm: PlannedTimer? = nil) -> Verdict {
            Verdict(explanation: RuleExplanation(ruleID: rule.id, agentID: rule.agentID, outcome: outcome, detail: detail, until: until), rearm: rearm)
        }
        guard let anchor = trigger.anchor, let after = trigger.afterSeconds else {
            return explain(.triggerMismatch, "the time_based trigger has no anchor or duration")
        }
        guard let anchorAt = facts.time(of: anchor) else {
            return explain(.timerCancelled, "\(anchor.rawValue) is not known for this lead, so there is nothing to wait from")
        }
        let due = anchorAt.addingTimeInterval(TimeInterval(after))
        if due.timeIntervalSince(now) > options.timerTolerance {
            let rearm = event.leadID.map {
                PlannedTimer(ruleID: rule.id, agentID: rule.agentID, leadID: $0, dueAt: due, anchor: anchor, anchorAt: anchorAt)
            }
            return explain(.timerNotDue, "\(anchor.rawValue) is \(RuleDate.string(anchorAt)), so the rule is due at \(RuleDate.string(due)); timer re-armed", until: due, rearm: rearm)
        }
        for cancel in trigger.effectiveCancelOn {
            switch cancel {
            case .inboundMessage:
                if let inbound = facts.lastInboundAt, inbound > anchorAt {
                    return explain(.timerCancelled, "the lead wrote at \(RuleDate.string(inbound)), after \(anchor.rawValue) at \(RuleDate.string(anchorAt))")
                }
            case .outboundMessage:
                if let outbound = facts.lastOutboundAt, outbound > anchorAt {
                    return explain(.timerCancelled, "a message was sent to the lead at \(RuleDate.string(outbound)), after \(anchor.rawValue) at \(RuleDate.string(anchorAt))")
                }
            case .stageChange:
                if anchor != .stageEntered, let entered = facts.stageEnteredAt, entered > anchorAt {
                    return explain(.timerCancelled, "the lead changed stage at \(RuleDate.string(entered)), after \(anchor.rawValue) at \(RuleDate.string(anchorAt))")
                }
            }
        }
        return nil
    }

    // MARK: - Loop guard

    /// Own writes this event echoes, by the rule that made them.
    func echoedWrites(of event: KommoEvent, update: FactsUpdate, ownWrites: [OwnWrite], now: Date) -> [String: OwnWrite] {
        guard let leadID = event.leadID, !ownWrites.isEmpty else { return [:] }
        var echoes: [String: OwnWrite] = [:]
        for write in ownWrites where write.leadID == leadID && echoes[write.ruleID] == nil {
            if isEcho(of: write, event: event, update: update, now: now) { echoes[write.ruleID] = write }
        }
        return echoes
    }

    /// Whether `event` is what Kommo sends back for `write`: the same lead, within the window, and the
    /// stage, note text or field value written.
    func isEcho(of write: OwnWrite, event: KommoEvent, update: FactsUpdate, now: Date) -> Bool {
        guard write.leadID == event.leadID else { return false }
        let age = now.timeIntervalSince(write.at)
        guard age <= options.loopGuardWindow, age >= -options.timerTolerance else { return false }
        switch write.kind {
        case .stageChange:
            return event.type == .stageChanged && event.statusID.map(String.init) == String(TextFold.trim(write.value))
        case .note:
            return event.type == .noteAdded && TextFold.fold(event.fields["text"] ?? "") == TextFold.fold(write.value)
        case .field:
            guard FactsUpdate.stateEvents.contains(event.type), let field = write.field.flatMap(FieldRef.init) else { return false }
            let carried = field.lookupKeys.lazy.compactMap { update.changes[$0] }.first
            return carried.map { TextFold.same($0.new, write.value) } ?? false
        }
    }

    // MARK: - Timers

    /// Arms timers for rules whose anchor this event moved and drops timers this event voided.
    func planTimers(for event: KommoEvent, update: FactsUpdate, rules: RuleSet, into decision: inout Decision, skipping keys: inout Set<String>) {
        guard update.isStored, let leadID = event.leadID else { return }
        let facts = update.facts
        var armed: Set<String> = []
        var dropped: Set<String> = []
        for anchor in TimeAnchor.allCases {
            guard let anchorAt = update.movedAnchors[anchor] else { continue }
            for index in rules.timed(anchor: anchor) {
                let rule = rules.rules[index]
                guard let after = rule.trigger.afterSeconds else { continue }
                if anchor == .stageEntered, let mismatch = stageFilterMismatch(rule.trigger, facts: facts) {
                    if dropped.insert(rule.id).inserted {
                        decision.cancelledTimers.append(TimerCancellation(ruleID: rule.id, leadID: leadID, reason: mismatch))
                    }
                    continue
                }
                armed.insert(rule.id)
                let timer = PlannedTimer(
                    ruleID: rule.id, agentID: rule.agentID, leadID: leadID,
                    dueAt: anchorAt.addingTimeInterval(TimeInterval(after)), anchor: anchor, anchorAt: anchorAt
                )
                if keys.insert(timer.key).inserted { decision.timers.append(timer) }
            }
        }
        for cancel in TimerCancel.allCases where update.happened.contains(cancel) {
            for index in rules.timed(cancelledBy: cancel) {
                let rule = rules.rules[index]
                guard !armed.contains(rule.id), !dropped.contains(rule.id), let anchor = rule.trigger.anchor else { continue }
                // An event older than the anchor (delivered late) did not happen after it.
                if let anchorAt = facts.time(of: anchor), event.occurredAt <= anchorAt { continue }
                if cancel == .stageChange, anchor == .stageEntered { continue }
                dropped.insert(rule.id)
                decision.cancelledTimers.append(TimerCancellation(ruleID: rule.id, leadID: leadID, reason: Self.cancelReason(cancel)))
            }
        }
    }

    /// Why a stage-filtered time-based rule does not wait in the lead's current stage, or `nil` if it does.
    func stageFilterMismatch(_ trigger: Trigger, facts: LeadFacts) -> String? {
        if let wanted = trigger.pipelineID, facts.pipelineID != wanted {
            return "the lead entered pipeline \(facts.pipelineID.map(String.init) ?? "unknown"), not \(wanted)"
        }
        if let wanted = trigger.stageID, facts.stageID != wanted {
            return "the lead entered stage \(facts.stageID.map(String.init) ?? "unknown"), not \(wanted)"
        }
        return nil
    }

    /// Words for a cancellation's reason.
    static func cancelReason(_ cancel: TimerCancel) -> String {
        switch cancel {
        case .inboundMessage: "the lead wrote"
        case .outboundMessage: "a message was sent to the lead"
        case .stageChange: "the lead changed stage"
        }
    }

    /// Words for an own write in a loop-guard explanation.
    static func describe(_ write: OwnWrite) -> String {
        switch write.kind {
        case .stageChange: "stage change to \(write.value)"
        case .note: "note \"\(write.value.prefix(80))\""
        case .field: "value \"\(write.value.prefix(80))\" of \(write.field ?? "a field")"
        }
    }

    /// `7001, 7002`.
    static func list(_ ids: [Int64]) -> String { ids.map(String.init).joined(separator: ", ") }
}
