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
///  "pause_on_human_reply": {"enabled": true, "resume_after_seconds": 86400}}
/// ```
///
/// Absent keys take defaults (`status` active, empty lists = everywhere, no working hours = always,
/// pausing on a human reply for a day). Answers add `id`, `version`, `created_at` and `updated_at`.
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
        /// How long the AI stays quiet after a human reply; 0 means until resumed by hand.
        package var resumeAfterSeconds: Int

        private enum CodingKeys: String, CodingKey { case enabled, resumeAfterSeconds = "resume_after_seconds" }

        package init(enabled: Bool = true, resumeAfterSeconds: Int = 86_400) {
            self.enabled = enabled; self.resumeAfterSeconds = resumeAfterSeconds
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            resumeAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .resumeAfterSeconds) ?? 86_400
        }
    }

    package var name: String
    package var description: String
    /// `active` or `paused`.
    package var status: String
    package var persona: String
    /// A language tag such as `es` or `pt-BR`; empty means "the lead's".
    package var language: String
    package var pipelines: [Pipeline]
    /// Messaging channels the agent answers on (`waba`, `telegram`, …); empty means all.
    package var channels: [String]
    package var workingHours: WorkingHours?
    package var pauseOnHumanReply: PauseOnHumanReply

    private enum CodingKeys: String, CodingKey {
        case name, description, status, persona, language, pipelines, channels
        case workingHours = "working_hours", pauseOnHumanReply = "pause_on_human_reply"
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
    }

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
        if !language.isEmpty, !Self.isLanguageTag(language) { add("language", "must be a language tag such as es or pt-BR") }
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
        if !(0...Limits.maxSeconds).contains(pauseOnHumanReply.resumeAfterSeconds) {
            add("pause_on_human_reply.resume_after_seconds", "must be between 0 and \(Limits.maxSeconds)")
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
