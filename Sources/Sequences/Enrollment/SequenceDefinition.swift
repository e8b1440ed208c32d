import Basics
import Domain
import Foundation
import Wire

// MARK: - Definition

/// A sequence as its owner edits it: what starts it, its ordered steps, when messages may go out, and
/// what takes a lead out of it. Stored as JSON (``json``); enrollments refer to steps by their ids, so
/// a sequence can be edited while leads are in it.
///
/// ```json
/// {"name": "Welcome", "status": "active",
///  "trigger": {"type": "stage_changed", "pipeline_id": 7001, "stage_id": 502},
///  "entry_filters": {"pipeline_id": 7001},
///  "steps": [{"id": "hello", "delay_seconds": 0, "action": {"type": "send_message", "text": "Hi!"}},
///            {"id": "call", "delay_days": 2, "action": {"type": "create_task", "text": "Call"}}],
///  "send_window": {"time_zone": "Europe/Madrid", "days": ["mon","tue","wed","thu","fri"], "start": "09:00", "end": "18:00"},
///  "exit_conditions": [{"type": "lead_replied"}, {"type": "stage_changed", "to": "won"}],
///  "re_enrollment": "never_while_active"}
/// ```
package struct SequenceDefinition: Sendable, Hashable {
    package var name: String
    /// draft, active, paused, archived. Only active sequences take new leads.
    package var status: String
    package var trigger: Trigger
    /// Auto-enrollment happens only for leads in this pipeline / stage (when set).
    package var entryPipelineID: Int64?
    package var entryStageID: Int64?
    package var steps: [Step]
    package var sendWindow: SendWindow?
    package var exitConditions: [ExitCondition]
    package var reEnrollment: ReEnrollment

    package static let statuses = ["draft", "active", "paused", "archived"]

    /// What starts an enrollment.
    package struct Trigger: Sendable, Hashable {
        /// lead_created, stage_changed, manual, rule (a rule's `start_sequence`)
        package var type: String
        package var pipelineID: Int64?
        package var stageID: Int64?

        package static let types = ["lead_created", "stage_changed", "manual", "rule"]
    }

    /// One step: wait `delaySeconds` after the previous step (or the enrollment), then run `action`.
    package struct Step: Sendable, Hashable {
        /// Stable across edits; enrollments point at it.
        package var id: String
        package var delaySeconds: Int
        /// The rules' action JSON (see `Domain.Action`), kept as the client wrote it.
        package var action: JSONValue
        package var actionType: String { action["type"]?.string ?? "" }
    }

    /// What takes a lead out of the sequence.
    package enum ExitCondition: Sendable, Hashable {
        case leadReplied
        /// Any stage change, or to won (142), lost (143), or a given stage.
        case stageChanged(to: StageTarget)
        case leadDeleted
        /// Only by a person (cancel); listed for completeness of the editor's choices.
        case manual
    }

    package enum StageTarget: Sendable, Hashable {
        case any, won, lost
        case stage(Int64)
    }

    /// May a lead come into the sequence again?
    package enum ReEnrollment: String, Sendable, Hashable, CaseIterable {
        /// Not while an enrollment of the lead is active or paused; afterwards, yes.
        case neverWhileActive = "never_while_active"
        /// Only after the previous enrollment completed every step (an exit or cancel keeps the lead out).
        case afterFinished = "after_finished"
        /// Once per lead, ever.
        case neverAgain = "never_again"
    }

    /// Kommo's fixed ids of the closing stages.
    package static let wonStageID: Int64 = 142
    package static let lostStageID: Int64 = 143
    /// Most steps in one sequence.
    package static var maxSteps: Int { Limits.sequenceSteps }
    /// Longest delay between two steps: a year.
    package static let maxDelaySeconds = 366 * 24 * 3600
}

// MARK: - Step order

extension SequenceDefinition {
    /// The step after `stepID` in the current order; `nil` when it was the last.
    package func step(after stepID: String) -> Step? {
        guard let index = steps.firstIndex(where: { $0.id == stepID }) else { return nil }
        return index + 1 < steps.count ? steps[index + 1] : nil
    }

    package func step(_ id: String) -> Step? { steps.first { $0.id == id } }

    /// When a step waiting `delaySeconds` after `previous` may run: pushed into the send window.
    package func due(after previous: Int64, delaySeconds: Int) -> Int64 {
        let earliest = Date(unixMicros: previous + Int64(delaySeconds) * 1_000_000)
        return sendWindow.nextOpening(atOrAfter: earliest).unixMicros
    }
}

// MARK: - Parsing and validation

extension SequenceDefinition {
    /// Reads and validates a sequence document. Every problem is reported with its JSON path; steps
    /// without an id get one from `newStepID`.
    package static func parse(_ value: JSONValue, newStepID: () -> String) -> Result<SequenceDefinition, RPCError> {
        var problems: [FieldViolation] = []
        func problem(_ field: String, _ message: String) { problems.append(FieldViolation(field: field, message: message)) }
        guard case .object(let object) = value else { return .failure(.invalid(field: "body", "must be a JSON object")) }
        let known: Set<String> = ["id", "agent_id", "name", "status", "trigger", "entry_filters", "steps", "send_window",
                                  "exit_conditions", "re_enrollment", "created_at", "updated_at", "version", "warnings"]
        for key in object.keys.sorted() where !known.contains(key) { problem(key, "is not a member of a sequence") }

        let name = object["name"]?.string?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if name.isEmpty { problem("name", "is required") } else if name.count > Limits.nameLength { problem("name", "must be at most \(Limits.nameLength) characters") }
        let status = object["status"]?.string ?? "draft"
        if !statuses.contains(status) { problem("status", "must be one of \(statuses.joined(separator: ", "))") }

        var trigger = Trigger(type: "manual")
        if let value = object["trigger"] {
            let type = value["type"]?.string ?? ""
            if !Trigger.types.contains(type) {
                problem("trigger.type", "must be one of \(Trigger.types.joined(separator: ", "))")
            }
            trigger = Trigger(type: type, pipelineID: value["pipeline_id"]?.int64, stageID: value["stage_id"]?.int64)
            if type == "stage_changed", (trigger.stageID ?? 0) <= 0 { problem("trigger.stage_id", "is required for stage_changed") }
        }

        let filters = object["entry_filters"]
        let entryPipelineID = filters?["pipeline_id"]?.int64
        let entryStageID = filters?["stage_id"]?.int64
        if let filters, filters != .null {
            guard case .object(let members) = filters else { return .failure(.invalid(field: "entry_filters", "must be an object")) }
            for key in members.keys.sorted() where !["pipeline_id", "stage_id"].contains(key) {
                problem("entry_filters.\(key)", "is not a filter (known: pipeline_id, stage_id)")
            }
        }

        var steps: [Step] = []
        let stepValues = object["steps"]?.array ?? []
        if stepValues.isEmpty { problem("steps", "needs at least one step") }
        if stepValues.count > maxSteps { problem("steps", "may hold at most \(maxSteps) steps") }
        var seen = Set<String>()
        for (index, value) in stepValues.prefix(maxSteps).enumerated() {
            let path = "steps[\(index)]"
            var id = value["id"]?.string ?? ""
            if id.isEmpty {
                id = newStepID()
            } else if id.count > 64 || !id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) {
                problem("\(path).id", "must be 1 to 64 letters, digits, '_' or '-'")
            }
            if !seen.insert(id).inserted { problem("\(path).id", "'\(id)' is used by another step") }
            let delay = delaySeconds(of: value, at: path, problem: problem)
            let action = value["action"] ?? .null
            checkAction(action, at: "\(path).action", problem: problem)
            steps.append(Step(id: id, delaySeconds: delay, action: action))
        }

        var sendWindow: SendWindow?
        if let value = object["send_window"], value != .null {
            let days = value["days"]?.array?.compactMap { $0.string } ?? []
            let parsedDays = days.compactMap(SendWindow.Day.init(rawValue:))
            if parsedDays.count != days.count { problem("send_window.days", "days are mon, tue, wed, thu, fri, sat, sun") }
            let window = SendWindow(timeZone: value["time_zone"]?.string ?? "", days: parsedDays,
                                    start: value["start"]?.string ?? "", end: value["end"]?.string ?? "")
            let names = ["timeZone": "time_zone", "days": "days", "start": "start", "end": "end"]
            for windowProblem in window.validate() {
                problem("send_window.\(names[windowProblem.field] ?? windowProblem.field)", windowProblem.message)
            }
            sendWindow = window
        }

        var exits: [ExitCondition] = []
        let exitValues = object["exit_conditions"]?.array ?? []
        if exitValues.count > Limits.exitConditions {
            problem("exit_conditions", "has \(exitValues.count) exit conditions; the limit is \(Limits.exitConditions)")
        }
        for (index, value) in exitValues.prefix(Limits.exitConditions).enumerated() {
            let path = "exit_conditions[\(index)]"
            switch value["type"]?.string ?? value.string {
            case "lead_replied": exits.append(.leadReplied)
            case "lead_deleted": exits.append(.leadDeleted)
            case "manual": exits.append(.manual)
            case "stage_changed":
                if let stage = value["stage_id"]?.int64 {
                    exits.append(.stageChanged(to: .stage(stage)))
                } else {
                    switch value["to"]?.string ?? "any" {
                    case "any": exits.append(.stageChanged(to: .any))
                    case "won": exits.append(.stageChanged(to: .won))
                    case "lost": exits.append(.stageChanged(to: .lost))
                    default: problem("\(path).to", "must be any, won or lost (or give stage_id)")
                    }
                }
            default: problem("\(path).type", "must be lead_replied, stage_changed, lead_deleted or manual")
            }
        }

        let policyName = object["re_enrollment"]?.string ?? ReEnrollment.neverWhileActive.rawValue
        let policy = ReEnrollment(rawValue: policyName) ?? .neverWhileActive
        if ReEnrollment(rawValue: policyName) == nil {
            problem("re_enrollment", "must be one of \(ReEnrollment.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard problems.isEmpty else { return .failure(.invalid(problems)) }
        return .success(SequenceDefinition(
            name: name, status: status, trigger: trigger, entryPipelineID: entryPipelineID, entryStageID: entryStageID,
            steps: steps, sendWindow: sendWindow, exitConditions: exits, reEnrollment: policy))
    }

    /// One of `delay_seconds`, `delay_minutes`, `delay_hours`, `delay_days` (none: no wait).
    private static func delaySeconds(of step: JSONValue, at path: String, problem: (String, String) -> Void) -> Int {
        let units: [(String, Int)] = [("delay_seconds", 1), ("delay_minutes", 60), ("delay_hours", 3600), ("delay_days", 86_400)]
        let given = units.filter { step[$0.0] != nil && step[$0.0] != .null }
        if given.count > 1 { problem(path, "give one of \(units.map(\.0).joined(separator: ", "))") }
        guard let (key, factor) = given.first else { return 0 }
        guard case .int(let number) = step[key]! else {
            problem("\(path).\(key)", "must be a whole number")
            return 0
        }
        if number < 0 { problem("\(path).\(key)", "must not be negative") }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: Int64(factor))
        let tooLong = overflow || seconds > Int64(maxDelaySeconds)
        if tooLong { problem("\(path).\(key)", "must be at most a year") }
        return number < 0 || tooLong ? 0 : Int(seconds)
    }

    /// The action of a step is a rules' action; `start_sequence` from a step would let sequences chain
    /// each other without bound, so a step may stop sequences but not start them.
    private static func checkAction(_ action: JSONValue, at path: String, problem: (String, String) -> Void) {
        guard case .object = action else { return problem(path, "is required (an action object with a type)") }
        let type = action["type"]?.string ?? ""
        guard let actionType = ActionType(rawValue: type) else {
            let known = ActionType.allCases.map(\.rawValue).filter { $0 != "start_sequence" }.joined(separator: ", ")
            return problem("\(path).type", "unknown action type '\(type)' (known: \(known))")
        }
        if actionType == .startSequence { return problem("\(path).type", "a step cannot start a sequence") }
        let decoded: Action
        do {
            decoded = try JSONDecoder().decode(Action.self, from: action.data())
        } catch {
            return problem(path, "is not a valid \(type) action: \(error)")
        }
        for actionProblem in decoded.validate(at: path) { problem(actionProblem.field, actionProblem.message) }
    }
}

// MARK: - JSON

extension SequenceDefinition {
    /// The document the REST API shows (without identity and timestamps, which the record adds).
    package var json: [String: JSONValue] {
        var trigger: [String: JSONValue] = ["type": .string(self.trigger.type)]
        if let id = self.trigger.pipelineID { trigger["pipeline_id"] = .int(Int64(id)) }
        if let id = self.trigger.stageID { trigger["stage_id"] = .int(Int64(id)) }
        var filters: [String: JSONValue] = [:]
        if let entryPipelineID { filters["pipeline_id"] = .int(Int64(entryPipelineID)) }
        if let entryStageID { filters["stage_id"] = .int(Int64(entryStageID)) }
        var object: [String: JSONValue] = [
            "name": .string(name), "status": .string(status), "trigger": .object(trigger), "entry_filters": .object(filters),
            "steps": .array(steps.map { .object(["id": .string($0.id), "delay_seconds": .int(Int64($0.delaySeconds)), "action": $0.action]) }),
            "exit_conditions": .array(exitConditions.map(\.json)), "re_enrollment": .string(reEnrollment.rawValue),
        ]
        if let sendWindow {
            object["send_window"] = .object([
                "time_zone": .string(sendWindow.timeZone), "days": .array(sendWindow.days.map { .string($0.rawValue) }),
                "start": .string(sendWindow.start), "end": .string(sendWindow.end),
            ])
        } else {
            object["send_window"] = .null
        }
        return object
    }
}

extension SequenceDefinition.ExitCondition {
    var json: JSONValue {
        switch self {
        case .leadReplied: ["type": "lead_replied"]
        case .leadDeleted: ["type": "lead_deleted"]
        case .manual: ["type": "manual"]
        case .stageChanged(to: .any): ["type": "stage_changed", "to": "any"]
        case .stageChanged(to: .won): ["type": "stage_changed", "to": "won"]
        case .stageChanged(to: .lost): ["type": "stage_changed", "to": "lost"]
        case .stageChanged(to: .stage(let id)): ["type": "stage_changed", "stage_id": .int(Int64(id))]
        }
    }
}

// MARK: - Merge patch

extension JSONValue {
    /// RFC 7396: objects merge member by member, `null` removes, anything else replaces.
    package func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members: [String: JSONValue] = if case .object(let existing) = self { existing } else { [:] }
        for (key, value) in patchMembers {
            if value == .null { members[key] = nil } else { members[key] = (members[key] ?? .null).merging(patch: value) }
        }
        return .object(members)
    }
}
