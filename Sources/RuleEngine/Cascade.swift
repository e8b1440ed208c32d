import Domain
import Foundation

// MARK: - Cascades

/// One link of a cascade: a rule fired on an event and wrote to Kommo, and Kommo echoed the write back as
/// the next event of the chain.
package struct CascadeStep: Sendable, Hashable, Codable {
    /// The rule whose action made the write; empty for a write no rule planned (a sequence step).
    package var ruleID: String
    /// The rule's name when the write was recorded.
    package var ruleName: String
    /// The event the rule fired on; empty when not known.
    package var eventID: String
    /// When the write was made.
    package var at: Date

    /// Creates a step.
    package init(ruleID: String, ruleName: String = "", eventID: String, at: Date) {
        self.ruleID = ruleID; self.ruleName = ruleName; self.eventID = eventID; self.at = at
    }

    private enum CodingKeys: String, CodingKey { case ruleID = "rule_id", ruleName = "rule_name", eventID = "event_id", at }
}

/// The chain of our own writes that led to an event: the event that started it and one step per write.
///
/// A manager's change, a message, a timer — any event that echoes no write of ours — starts a chain at
/// depth 0. A rule firing on an event of depth `d` writes to Kommo; the write remembers the event's chain
/// and its echo has depth `d + 1`. Two rules undoing each other's writes make the chain grow without end,
/// which is what ``RuleEngine/Options/cascadeMaxDepth`` bounds.
package struct Cascade: Sendable, Hashable, Codable {
    /// The event that started the chain; empty when the first write's cause is not known (a write
    /// recorded before chains were kept).
    package var originEventID: String
    /// Oldest first.
    package var steps: [CascadeStep]

    /// Steps a chain keeps: far beyond any sensible bound, so that a chain slowed by timers cannot grow
    /// its stored form without end.
    package static let maximumSteps = 64

    /// Creates a chain.
    package init(originEventID: String, steps: [CascadeStep] = []) {
        self.originEventID = originEventID; self.steps = steps
    }

    /// How many writes of ours led to the event.
    package var depth: Int { steps.count }

    /// The chain one write longer: what the echo of a write made by `step.ruleID` on this chain's event
    /// carries.
    package func extended(by step: CascadeStep) -> Cascade {
        Cascade(originEventID: originEventID, steps: Array((steps + [step]).suffix(Self.maximumSteps)))
    }

    /// The steps made within `window` before `now`: the bound is per time window, so a chain that a
    /// sequence spreads over days is not a runaway.
    package func recent(window: TimeInterval, now: Date) -> Cascade {
        Cascade(originEventID: originEventID, steps: steps.filter { now.timeIntervalSince($0.at) <= window })
    }

    /// The rules along the chain, each once, in the order they first wrote.
    package var ruleIDs: [String] {
        var seen: Set<String> = []
        return steps.map(\.ruleID).filter { seen.insert($0).inserted }
    }

    private enum CodingKeys: String, CodingKey { case originEventID = "origin_event_id", steps }
}

/// What the engine made of the chain an event continues.
package struct CascadeVerdict: Sendable, Hashable, Codable {
    /// The event's chain (steps within the window).
    package var chain: Cascade
    /// The deepest chain rules may fire on (the engine's setting when it decided).
    package var maxDepth: Int
    /// The window the depth counts in, in seconds.
    package var window: TimeInterval
    /// Rules that would have fired did not, because the chain is deeper than `maxDepth`.
    package var stopped: Bool
    /// The write of ours this event was taken as the echo of; it continues no other chain.
    package var echoOf: OwnWrite

    /// Creates a verdict.
    package init(chain: Cascade, maxDepth: Int, window: TimeInterval, stopped: Bool = false, echoOf: OwnWrite) {
        self.chain = chain; self.maxDepth = maxDepth; self.window = window; self.stopped = stopped; self.echoOf = echoOf
    }

    /// Whether the bound holds rules back from this event.
    package var exceeded: Bool { chain.depth > maxDepth }

    private enum CodingKeys: String, CodingKey { case chain, maxDepth = "max_depth", window, stopped, echoOf = "echo_of" }
}

extension RuleEngine {
    // MARK: - Cascade bound

    /// The chain `event` continues: of the writes of ours it echoes that no other event was taken as the
    /// echo of (Kommo sends one webhook per write, so a later event with the same content is someone's
    /// change, not our echo), the one with the deepest chain (the most recent on a tie). `nil` when the event echoes no
    /// write of ours, so it starts a chain of its own.
    func cascadeVerdict(for event: KommoEvent, update: FactsUpdate, ownWrites: [OwnWrite], now: Date) -> CascadeVerdict? {
        guard event.leadID != nil else { return nil }
        var best: (write: OwnWrite, chain: Cascade)?
        for write in ownWrites where (write.echoedBy == nil || write.echoedBy == event.id) && isEcho(of: write, event: event, update: update, now: now) {
            // A write recorded before chains were kept counts as one step of its rule.
            let chain = (write.cascade ?? Cascade(originEventID: "", steps: [CascadeStep(ruleID: write.ruleID, eventID: "", at: write.at)]))
                .recent(window: options.cascadeWindow, now: now)
            if let current = best, (current.chain.depth, current.write.at) >= (chain.depth, write.at) { continue }
            best = (write, chain)
        }
        return best.map { CascadeVerdict(chain: $0.chain, maxDepth: options.cascadeMaxDepth, window: options.cascadeWindow, echoOf: $0.write) }
    }

    /// Why no rule fires on an event whose chain is too deep: the chain, rule by rule, with names and ids.
    static func cascadeDetail(_ verdict: CascadeVerdict, rules: RuleSet) -> String {
        let chain = verdict.chain
        let links = chain.steps.map { step -> String in
            guard !step.ruleID.isEmpty else { return "a write no rule planned" }
            let name = rules.rule(id: step.ruleID)?.name ?? step.ruleName
            return name.isEmpty ? step.ruleID : "\"\(name)\" (\(step.ruleID))"
        }
        let origin = chain.originEventID.isEmpty ? "" : ", started by event \(chain.originEventID)"
        return "this event echoes a chain of \(chain.depth) writes of ours to this lead within \(minutes(verdict.window))\(origin): "
            + links.joined(separator: " → ")
            + "; rules fire on chains of at most \(verdict.maxDepth), so no rule fires on it. These rules undo each other's writes: change one of them"
    }

    /// `20 min`, `2 h`.
    static func minutes(_ seconds: TimeInterval) -> String {
        let minutes = Int((seconds / 60).rounded())
        return minutes % 60 == 0 && minutes >= 60 ? "\(minutes / 60) h" : "\(minutes) min"
    }
}
