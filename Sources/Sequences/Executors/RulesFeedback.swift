import Basics
import Domain
import Logging
import ServiceKit
import Wire

/// What the executors ask of and tell rules-service: the agent's context (persona, scripts) for
/// messages, and our own writes and script uses, so that the echoes of our writes do not fire rules
/// again and scripts are not repeated.
package struct RulesFeedback: Sendable {
    private let rules: RulesClient
    private let timeout: Duration
    private let clock: any WallClock
    private let metrics: ExecutorMetrics
    /// Embeds the lead's words when the tenant has an embeddings endpoint, for hybrid ranking.
    private let embedder: KnowledgeEmbedder?

    package init(rules: RulesClient, timeout: Duration, clock: any WallClock, metrics: ExecutorMetrics, embedder: KnowledgeEmbedder? = nil) {
        self.rules = rules
        self.embedder = embedder
        self.timeout = timeout
        self.clock = clock
        self.metrics = metrics
    }

    /// The codes of rules-service answers that may pass: the action is tried again later.
    private static let retryable: Set<StatusCode> = [.unavailable, .deadlineExceeded, .internal, .resourceExhausted, .aborted, .unknown, .cancelled]

    /// The agent's context for the lead; an action that names no agent, or an unreachable rules-service,
    /// stops the action.
    func agentContext(in context: ExecutionContext) async throws(ExecutionStop) -> PB.AgentContext {
        let operation = "rules.agent_context"
        guard !context.agentID.isEmpty else {
            throw ExecutionStop(ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "the action names no agent"))
        }
        var request = PB.AgentContextRequest()
        request.agentId = context.agentID
        request.leadId = context.leadID ?? 0
        do {
            return try await rules.getAgentContext(request, options: CallOptions(timeout: timeout, tenantID: context.tenantID))
        } catch {
            throw ExecutionStop(ExecutionResult(operation: operation, target: "rules-service GetAgentContext",
                                                outcome: Self.retryable.contains(error.code) ? .failedRetryable : .failedPermanent,
                                                detail: "agent context: \(error)"))
        }
    }

    /// Chunks of the agent's knowledge base a reply is grounded in, at most.
    static let knowledgeChunks: Int32 = 6

    /// The best chunks of the agent's knowledge base for the lead's words, with the significant words
    /// they were found by. Best effort: without them (rules-service unreachable) the reply is written
    /// from the scripts, so the failure is logged and counted rather than stopping the reply.
    func knowledge(for text: String, in context: ExecutionContext) async -> (sources: [KnowledgeSource], terms: [String]) {
        guard !context.agentID.isEmpty, !TextFold.isBlank(text) else { return ([], []) }
        var query = PB.KnowledgeQuery()
        query.agentId = context.agentID
        // The latest words count most: a long history is cut from the front to the query's bound.
        query.text = String(text.suffix(Limits.knowledgeQueryLength))
        query.limit = Self.knowledgeChunks
        if let embedder, let endpoint = context.integrations.embeddings {
            // Best effort too: an endpoint that fails leaves the search to bm25.
            do {
                if let vector = try await embedder.embed([query.text], with: endpoint, logger: context.logger).first {
                    query.queryVector = KnowledgeVector.bytes(vector)
                    query.vectorModel = endpoint.model
                }
            } catch {
                context.logger.warning("knowledge.embed_failed", metadata: ["agent.id": "\(context.agentID)", "error": "\(error)"])
            }
        }
        do {
            let hits = try await rules.searchKnowledge(query, options: CallOptions(timeout: timeout, tenantID: context.tenantID))
            return (hits.items.map {
                KnowledgeSource(documentID: $0.documentId, title: $0.title, version: $0.version, chunk: Int($0.chunk),
                                heading: $0.heading, text: $0.text, coverage: $0.coverage)
            }, hits.terms)
        } catch {
            metrics.failed(.knowledgeSearch, error: error, logger: context.logger, level: .warning)
            return ([], [])
        }
    }

    /// A write of ours to the lead, of `kind`. The event that caused it lets rules-service carry the
    /// event's cascade on to the write's echo.
    func ownWrite(kind: PB.OwnWriteKind, value: String, in context: ExecutionContext) -> PB.OwnWrite {
        var write = PB.OwnWrite()
        write.leadId = context.leadID ?? 0
        write.kind = kind
        write.value = value
        write.ruleId = context.ruleID
        write.eventId = context.eventID
        write.atMicros = clock.now().unixMicros
        return write
    }

    /// A use of script `id` at `version` by this action.
    func scriptUse(id: String, version: Int64, in context: ExecutionContext) -> PB.ScriptUse {
        var use = PB.ScriptUse()
        use.scriptId = id
        use.version = version
        use.leadId = context.leadID ?? 0
        use.actionKey = context.idempotencyKey
        use.usedAtMicros = clock.now().unixMicros
        use.agentId = context.agentID
        return use
    }

    /// Tells rules-service what we wrote. Best effort: the write to Kommo has happened and must be logged
    /// as such; a missed report only weakens the loop guard for this one write, so it is logged and counted.
    func report(_ writes: [PB.OwnWrite], uses: [PB.ScriptUse] = [], in context: ExecutionContext) async {
        var request = PB.RecordRequest()
        request.ownWrites = writes.filter { $0.leadId > 0 }
        request.scriptUses = uses
        guard !request.ownWrites.isEmpty || !request.scriptUses.isEmpty else { return }
        do {
            _ = try await rules.record(request, options: CallOptions(timeout: timeout, tenantID: context.tenantID))
        } catch {
            metrics.failed(.ownWriteReport, error: error, logger: context.logger, level: .warning)
        }
    }

    /// Reports one own write of `kind`.
    func report(kind: PB.OwnWriteKind, value: String, in context: ExecutionContext) async {
        await report([ownWrite(kind: kind, value: value, in: context)], in: context)
    }
}
