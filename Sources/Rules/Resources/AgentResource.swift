import Domain
import RuleEngine
import Foundation
import Wire

/// An AI agent as the REST API shows it (the body of `/agents`):
///
/// ```json
/// {"name": "Sofia", "description": "Inbound WhatsApp leads", "status": "active",
///  "persona": "Friendly, brief, never pushy.", "language": "es",
///  "pipelines": [{"pipeline_id": 7100001, "stage_ids": [61234501, 61234502]}],
///  "channels": ["waba", "telegram"],
///  "working_hours": {"time_zone": "America/Sao_Paulo", "days": ["mon", "fri"], "start": "09:00", "end": "18:00"},
///  "pause_on_human_reply": {"enabled": true, "resume_after_seconds": 86400, "resume_stage_ids": [61234503]}}
/// ```
///
/// Absent keys take defaults (`status` active, `language` the lead's own, empty lists = everywhere, no
/// working hours = always, pausing on a human reply for a day). Answers add `id`, `version`,
/// `created_at` and `updated_at`.
///
/// What the settings do, in sequence-service's executors:
/// - `pause_on_human_reply`: a manager's message to a lead (`message_sent` by a Kommo user, not one of
///   our own sends coming back) holds the agent's AI replies and chat messages to that lead, logged as
///   `paused (a manager replied)`; tasks and field updates still run. The hold ends
///   `resume_after_seconds` after the manager's last message (0: never by itself), when the lead enters
///   one of `resume_stage_ids`, or by hand (`POST /api/v1/leads/{id}/agent/resume`); held messages then
///   run.
/// - `replies`: `quiet_seconds` makes an AI reply wait until the lead has stopped writing for that long
///   (logged as held), so several quick messages get one reply that answers them all; the replies due
///   meanwhile find the lead answered and are skipped. `max_per_lead_per_day` caps the AI replies one
///   lead gets per UTC day; the ones past it are skipped with the reason.
/// - `channels`: AI replies only to leads whose last message came from one of these origins.
/// - `ai_actions`: the tools an AI reply offers the model (`update_lead_fields`, `move_to_stage`,
///   `create_task`, `add_tags`, `hand_off`) and the field and stage ids they may touch.
/// - `language`: the language AI replies are written in, and the one scripts are chosen by; `auto` (or
///   empty) detects the lead's from its messages.
package struct AgentResource: Codable, Sendable, Hashable {
    /// A pipeline the agent works in; no stages means all of its stages.
    package struct Pipeline: Codable, Sendable, Hashable {
        package var pipelineID: Int64
        package var stageIDs: [Int64]

        private enum CodingKeys: String, CodingKey { case pipelineID = "pipeline_id", stageIDs = "stage_ids" }

        package init(pipelineID: Int64, stageIDs: [Int64] = []) { self.pipelineID = pipelineID; self.stageIDs = stageIDs }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            pipelineID = try c.decode(Int64.self, forKey: .pipelineID)
            stageIDs = try c.decodeIfPresent([Int64].self, forKey: .stageIDs) ?? []
        }
    }

    /// Whether the AI steps back when a person of the business writes to the lead.
    package struct PauseOnHumanReply: Codable, Sendable, Hashable {
        package var enabled: Bool
        /// How long the AI stays quiet after a human reply; 0 means until resumed by hand or by stage.
        package var resumeAfterSeconds: Int
        /// Stages whose entry (after the human reply) resumes the AI.
        package var resumeStageIDs: [Int64]

        private enum CodingKeys: String, CodingKey {
            case enabled, resumeAfterSeconds = "resume_after_seconds", resumeStageIDs = "resume_stage_ids"
        }

        /// The default quiet time: a day.
        package static let defaultResumeAfterSeconds = 86_400

        package init(enabled: Bool = true, resumeAfterSeconds: Int = PauseOnHumanReply.defaultResumeAfterSeconds, resumeStageIDs: [Int64] = []) {
            self.enabled = enabled; self.resumeAfterSeconds = resumeAfterSeconds; self.resumeStageIDs = resumeStageIDs
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            resumeAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .resumeAfterSeconds) ?? Self.defaultResumeAfterSeconds
            resumeStageIDs = try c.decodeIfPresent([Int64].self, forKey: .resumeStageIDs) ?? []
        }
    }

    package var name: String
    package var description: String
    /// `active` or `paused`.
    package var status: String
    package var persona: String
    /// A language tag such as `es` or `pt-BR`; `auto` or empty means "the lead's".
    package var language: String
    package var pipelines: [Pipeline]
    /// Messaging channels the agent answers on (`waba`, `telegram`, …); empty means all.
    package var channels: [String]
    package var workingHours: WorkingHours?
    package var pauseOnHumanReply: PauseOnHumanReply
    /// How the agent's AI replies converse; absent means at once and without a cap.
    package var replies: Replies?

    /// `replies`: `quiet_seconds` (an AI reply waits until the lead has written nothing for this long,
    /// then answers every message since our last one; 0: at once) and `max_per_lead_per_day` (AI
    /// replies to one lead per UTC day; 0: no cap).
    package struct Replies: Codable, Sendable, Hashable {
        package static let maximumQuietSeconds = 3_600
        package static let maximumPerDay = 1_000
        package static let maximumHistoryMessages = 100
        package static let minimumTokens = 16
        package static let maximumTokens = 4_096
        package static let maximumStopPhraseLength = 100
        package var quietSeconds: Int
        package var maxPerLeadPerDay: Int
        /// A lead's message holding one of these (whole words, case and accents ignored) pauses the agent
        /// for the lead until resumed by hand.
        package var stopPhrases: [String]
        /// The most recent messages a reply is written from; 0 for the service's default.
        package var historyMessages: Int
        /// The longest reply in tokens; 0 for the provider's default.
        package var maxTokens: Int

        private enum CodingKeys: String, CodingKey {
            case quietSeconds = "quiet_seconds", maxPerLeadPerDay = "max_per_lead_per_day", stopPhrases = "stop_phrases"
            case historyMessages = "history_messages", maxTokens = "max_tokens"
        }

        package init(quietSeconds: Int = 0, maxPerLeadPerDay: Int = 0, stopPhrases: [String] = [], historyMessages: Int = 0, maxTokens: Int = 0) {
            self.quietSeconds = quietSeconds; self.maxPerLeadPerDay = maxPerLeadPerDay
            self.stopPhrases = stopPhrases; self.historyMessages = historyMessages; self.maxTokens = maxTokens
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            quietSeconds = try c.decodeIfPresent(Int.self, forKey: .quietSeconds) ?? 0
            maxPerLeadPerDay = try c.decodeIfPresent(Int.self, forKey: .maxPerLeadPerDay) ?? 0
            stopPhrases = try c.decodeIfPresent([String].self, forKey: .stopPhrases) ?? []
            historyMessages = try c.decodeIfPresent(Int.self, forKey: .historyMessages) ?? 0
            maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? 0
        }
    }

    /// What the model may do besides writing: absent means nothing (no tools are offered).
    package var aiActions: AIActions?

    /// `ai_actions`: the tools (``AgentTool``) an AI reply offers the model, the custom field ids
    /// `update_lead_fields` may set and the stage ids `move_to_stage` may move to. A call naming
    /// anything else is refused and logged, not executed.
    package struct AIActions: Codable, Sendable, Hashable {
        package var tools: [String]
        package var fieldIDs: [Int64]
        package var stageIDs: [Int64]

        private enum CodingKeys: String, CodingKey { case tools, fieldIDs = "field_ids", stageIDs = "stage_ids" }

        package init(tools: [String] = [], fieldIDs: [Int64] = [], stageIDs: [Int64] = []) {
            self.tools = tools; self.fieldIDs = fieldIDs; self.stageIDs = stageIDs
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            tools = try c.decodeIfPresent([String].self, forKey: .tools) ?? []
            fieldIDs = try c.decodeIfPresent([Int64].self, forKey: .fieldIDs) ?? []
            stageIDs = try c.decodeIfPresent([Int64].self, forKey: .stageIDs) ?? []
        }

        /// The tools as the wire names them (unknown names are refused when saved).
        package var agentTools: [AgentTool] { tools.compactMap(AgentTool.init(rawValue:)) }

        func problems(at path: String) -> [FieldViolation] {
            var problems: [FieldViolation] = []
            func add(_ field: String, _ message: String) { problems.append(FieldViolation(field: "\(path).\(field)", message: message)) }
            for (name, count) in [("tools", tools.count), ("field_ids", fieldIDs.count), ("stage_ids", stageIDs.count)] where count > Limits.idItems {
                add(name, "has \(count) items; the limit is \(Limits.idItems)")
            }
            var seenTools = Set<String>()
            for (index, tool) in tools.prefix(Limits.idItems).enumerated() {
                if AgentTool(rawValue: tool) == nil { add("tools[\(index)]", "must be one of \(AgentTool.list)") }
                else if !seenTools.insert(tool).inserted { add("tools[\(index)]", "is listed twice") }
            }
            for (name, ids, what) in [("field_ids", fieldIDs, "custom field"), ("stage_ids", stageIDs, "stage")] {
                var seen = Set<Int64>()
                for (index, id) in ids.prefix(Limits.idItems).enumerated() {
                    if id <= 0 { add("\(name)[\(index)]", "must be a Kommo \(what) id") }
                    else if !seen.insert(id).inserted { add("\(name)[\(index)]", "is listed twice") }
                }
            }
            if seenTools.contains(AgentTool.updateLeadFields.rawValue), fieldIDs.isEmpty {
                add("field_ids", "must name the custom fields update_lead_fields may set")
            }
            if seenTools.contains(AgentTool.moveToStage.rawValue), stageIDs.isEmpty {
                add("stage_ids", "must name the stages move_to_stage may move to")
            }
            return problems
        }
    }

    private enum CodingKeys: String, CodingKey {
        case name, description, status, persona, language, pipelines, channels
        case workingHours = "working_hours", pauseOnHumanReply = "pause_on_human_reply", replies, aiActions = "ai_actions"
    }

    /// Decodes the body with the documented defaults.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        status = try c.decodeIfPresent(String.self, forKey: .status) ?? AgentResource.active
        persona = try c.decodeIfPresent(String.self, forKey: .persona) ?? ""
        language = try c.decodeIfPresent(String.self, forKey: .language) ?? ""
        pipelines = try c.decodeIfPresent([Pipeline].self, forKey: .pipelines) ?? []
        channels = try c.decodeIfPresent([String].self, forKey: .channels) ?? []
        workingHours = try c.decodeIfPresent(WorkingHours.self, forKey: .workingHours)
        pauseOnHumanReply = try c.decodeIfPresent(PauseOnHumanReply.self, forKey: .pauseOnHumanReply) ?? PauseOnHumanReply()
        replies = try c.decodeIfPresent(Replies.self, forKey: .replies)
        aiActions = try c.decodeIfPresent(AIActions.self, forKey: .aiActions)
    }

    /// `language` that asks for the lead's own language.
    package static let autoLanguage = "auto"

    /// `status` of an agent whose rules run.
    package static let active = "active"
    /// `status` of an agent whose rules do not fire.
    package static let paused = "paused"
    /// Members the server sets; accepted in a body and ignored.
    package static let readOnlyKeys: Set<String> = ["id", "version", "created_at", "updated_at"]

    /// Everything wrong with the agent, each with its field path.
    package func problems() -> [FieldViolation] {
        var problems: [FieldViolation] = []
        func add(_ field: String, _ message: String) { problems.append(FieldViolation(field: field, message: message)) }
        if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { add("name", "must not be empty") }
        else if name.count > Limits.nameLength { add("name", "must be at most \(Limits.nameLength) characters") }
        if description.count > Limits.descriptionLength { add("description", "must be at most \(Limits.descriptionLength) characters") }
        if ![Self.active, Self.paused].contains(status) { add("status", "must be active or paused") }
        if persona.count > Limits.personaLength { add("persona", "must be at most \(Limits.personaLength) characters") }
        if pipelines.count > Limits.idItems { add("pipelines", "has \(pipelines.count) pipelines; the limit is \(Limits.idItems)") }
        if channels.count > Limits.idItems { add("channels", "has \(channels.count) channels; the limit is \(Limits.idItems)") }
        if !language.isEmpty, language != Self.autoLanguage, !Self.isLanguageTag(language) {
            add("language", "must be a language tag such as es or pt-BR, or auto")
        }
        var seenPipelines = Set<Int64>()
        for (index, pipeline) in pipelines.prefix(Limits.idItems).enumerated() {
            if pipeline.pipelineID <= 0 { add("pipelines[\(index)].pipeline_id", "must be a Kommo pipeline id") }
            else if !seenPipelines.insert(pipeline.pipelineID).inserted { add("pipelines[\(index)].pipeline_id", "is listed twice") }
            if pipeline.stageIDs.count > Limits.idItems {
                add("pipelines[\(index)].stage_ids", "has \(pipeline.stageIDs.count) stages; the limit is \(Limits.idItems)")
            }
            for (stageIndex, stage) in pipeline.stageIDs.prefix(Limits.idItems).enumerated() where stage <= 0 {
                add("pipelines[\(index)].stage_ids[\(stageIndex)]", "must be a Kommo stage id")
            }
        }
        var seenChannels = Set<String>()
        for (index, channel) in channels.prefix(Limits.idItems).enumerated() {
            if channel.isEmpty || !channel.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) {
                add("channels[\(index)]", "must be a channel name such as waba or telegram")
            } else if !seenChannels.insert(channel.lowercased()).inserted {
                add("channels[\(index)]", "is listed twice")
            }
        }
        if let workingHours {
            problems += workingHours.problems(at: "working_hours").map(\.violation)
        }
        if let replies {
            if !(0...Replies.maximumQuietSeconds).contains(replies.quietSeconds) {
                add("replies.quiet_seconds", "must be between 0 and \(Replies.maximumQuietSeconds)")
            }
            if !(0...Replies.maximumPerDay).contains(replies.maxPerLeadPerDay) {
                add("replies.max_per_lead_per_day", "must be between 0 and \(Replies.maximumPerDay)")
            }
            if !(0...Replies.maximumHistoryMessages).contains(replies.historyMessages) {
                add("replies.history_messages", "must be between 0 and \(Replies.maximumHistoryMessages)")
            }
            if replies.maxTokens != 0, !(Replies.minimumTokens...Replies.maximumTokens).contains(replies.maxTokens) {
                add("replies.max_tokens", "must be 0 or between \(Replies.minimumTokens) and \(Replies.maximumTokens)")
            }
            if replies.stopPhrases.count > Limits.idItems {
                add("replies.stop_phrases", "has \(replies.stopPhrases.count) phrases; the limit is \(Limits.idItems)")
            }
            for (index, phrase) in replies.stopPhrases.prefix(Limits.idItems).enumerated()
            where TextFold.isBlank(phrase) || phrase.count > Replies.maximumStopPhraseLength {
                add("replies.stop_phrases[\(index)]", "must be a phrase of 1…\(Replies.maximumStopPhraseLength) characters")
            }
        }
        if let aiActions { problems += aiActions.problems(at: "ai_actions") }
        if !(0...Limits.maxSeconds).contains(pauseOnHumanReply.resumeAfterSeconds) {
            add("pause_on_human_reply.resume_after_seconds", "must be between 0 and \(Limits.maxSeconds)")
        }
        let resumeStages = pauseOnHumanReply.resumeStageIDs
        if resumeStages.count > Limits.idItems {
            add("pause_on_human_reply.resume_stage_ids", "has \(resumeStages.count) stages; the limit is \(Limits.idItems)")
        }
        var seenStages = Set<Int64>()
        for (index, stage) in resumeStages.prefix(Limits.idItems).enumerated() {
            if stage <= 0 { add("pause_on_human_reply.resume_stage_ids[\(index)]", "must be a Kommo stage id") }
            else if !seenStages.insert(stage).inserted { add("pause_on_human_reply.resume_stage_ids[\(index)]", "is listed twice") }
        }
        return problems
    }

    /// The switches the rule engine reads.
    package func gate(agentID: String) -> AgentGate {
        AgentGate(agentID: agentID, paused: status == Self.paused,
                  pipelineIDs: pipelines.map(\.pipelineID),
                  stageIDs: pipelines.flatMap(\.stageIDs),
                  workingHours: workingHours)
    }

    /// `es`, `pt-BR`, `zh-Hant-TW`: letters, digits and hyphens in short parts.
    static func isLanguageTag(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, (2...3).contains(first.count), first.allSatisfy({ $0.isASCII && $0.isLetter }) else { return false }
        return parts.dropFirst().allSatisfy { (1...8).contains($0.count) && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
    }
}
