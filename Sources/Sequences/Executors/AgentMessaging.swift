import Basics
import Foundation
import ServiceKit
import Wire

/// What an agent's settings say about putting a message into a lead's chat now: shared by the chat
/// message and AI reply executors.
///
/// - `pause_on_human_reply`: after a manager's message to the lead (sequence-service records it from
///   `message_sent` events, our own sends coming back excluded) the agent's messages are held, logged
///   as ``pausedDetail``. The hold ends `resume_after_seconds` after the manager's latest message (never
///   by itself when 0), when the lead has entered one of `resume_stage_ids` since, or by a resume by hand.
/// - `channels`: an AI reply goes only to a lead whose last message came from one of these origins. A
///   lead without a known origin (no message yet, an origin Kommo did not send) is answered.
package struct AgentMessaging: Sendable {
    private let store: SequenceStore
    private let clock: any WallClock

    /// The action log's detail for a held message.
    package static let pausedDetail = "paused (a manager replied)"

    package init(store: SequenceStore, clock: any WallClock) {
        self.store = store
        self.clock = clock
    }

    /// Stops the run as held when a manager's reply pauses `agent` for `lead`.
    func checkPause(agent: PB.AgentContext, lead: Int64, operation: String, in context: ExecutionContext) async throws(ExecutionStop) {
        // A hand-off by the AI pauses the agent even when a manager's reply would not.
        let reply: HumanReply?
        do {
            reply = try await store.humanReply(tenantID: context.tenantID, leadID: lead)
        } catch {
            // Without knowing whether a manager took over, sending could talk over them: try again later.
            throw ExecutionStop(ExecutionResult(operation: operation, outcome: .failedRetryable,
                                                detail: "could not read whether a manager replied: \(error)"))
        }
        guard let hold = Self.hold(agent: agent, reply: reply, now: clock.now()) else { return }
        throw ExecutionStop(.held(operation, reason: hold.detail, until: hold.until))
    }

    /// The hold a reply puts on an agent's messages at `now`, or `nil` when it does not (any more).
    static func hold(agent: PB.AgentContext, reply: HumanReply?, now: Date) -> (detail: String, until: Date?)? {
        guard let reply, !reply.isResumed, agent.pauseOnHumanReply || reply.isHandOff || reply.isStopRequest else { return nil }
        if agent.stageEnteredAtMicros > reply.repliedAt, agent.resumeStageIds.contains(agent.statusId) {
            return nil
        }
        let by = reply.manager.isEmpty ? "" : " by \(reply.manager)"
        let at = Date(unixMicros: reply.repliedAt)
        if reply.isHandOff {
            return ("\(pausedDetail): handed over\(by) at \(RuleTime.string(at)); resume by hand", nil)
        }
        if reply.isStopRequest {
            return ("\(pausedDetail): asked to stop\(by) at \(RuleTime.string(at)); resume by hand", nil)
        }
        guard agent.resumeAfterSeconds > 0 else {
            return ("\(pausedDetail): a manager wrote\(by) at \(RuleTime.string(at)); resume by hand"
                    + (agent.resumeStageIds.isEmpty ? "" : " or on stage \(agent.resumeStageIds.map(String.init).joined(separator: ", "))"), nil)
        }
        let until = at.addingTimeInterval(TimeInterval(agent.resumeAfterSeconds))
        guard until > now else { return nil }
        return ("\(pausedDetail): a manager wrote\(by) at \(RuleTime.string(at)); held until \(RuleTime.string(until))", until)
    }

    /// Stops an AI reply to a lead whose last message came from an origin the agent does not answer on.
    func checkChannel(agent: PB.AgentContext, operation: String) throws(ExecutionStop) {
        if let reason = Self.channelRefusal(channels: agent.channels, origin: agent.lastInboundOrigin) {
            throw .skipped(operation, reason: reason)
        }
    }

    /// Why an agent answering on `channels` does not answer a message from `origin`; `nil` when it does.
    static func channelRefusal(channels: [String], origin: String) -> String? {
        guard !channels.isEmpty, !origin.isEmpty else { return nil }
        let wanted = origin.lowercased()
        guard !channels.contains(where: { $0.lowercased() == wanted }) else { return nil }
        return "not answered: the lead wrote on \(origin); the agent answers on \(channels.joined(separator: ", "))"
    }
}

/// Times in action-log details: RFC 3339 UTC to the second.
enum RuleTime {
    static func string(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }
}
