import Domain
import Foundation
import Logging

/// The built-in, offline AI provider: answers from the agent's knowledge base when it holds the answer,
/// and otherwise with the tenant's own sales scripts.
///
/// Unless the action asked for a script, each of the lead's messages since our last one whose best
/// knowledge chunk holds at least ``knowledgeCoverage`` of its significant words is answered with that
/// chunk's sentences that hold them, in one reply (the chunks are named in the action log). Otherwise it picks one script for where the conversation stands, in this order:
/// 1. the script the action asked for (`script_id`), when it exists;
/// 2. first contact (no message from us yet and at most one from the lead) → a greeting;
/// 3. the last inbound message contains a trigger phrase of an objection-handling script → that script;
/// 4. it contains a trigger phrase of another script → that script;
/// 5. it asks about price → a presentation (else qualification) script; about needs → a qualification
///    (else presentation) script;
/// 6. otherwise a script bound to the lead's stage (qualification, presentation, closing first), then an
///    unbound qualification script.
///
/// Scripts bound to another stage are never used, nor, when the reply language is known (the agent's
/// `language`, or the lead's as detected), scripts that declare another language; among scripts of one
/// type, one in the reply language comes before one that declares none. Phrases match ignoring case and accents, on word
/// boundaries ("preço" matches "PRECO?", "plan" does not match "explain"). The script is rendered with
/// ``MissingValuePolicy/block``, so a lead never gets "Hello , …": a missing value blocks the reply.
package struct TemplateAIProvider: AIProvider {
    /// Words that make a message a question about price (English, Portuguese, Spanish).
    package static let priceWords = [
        "price", "prices", "pricing", "cost", "costs", "how much", "quote", "fee", "fees", "plan", "plans",
        "preco", "precos", "quanto", "quanto custa", "valor", "valores", "custa", "orcamento", "mensalidade",
        "precio", "precios", "cuanto", "cuesta", "tarifa", "cotizacion",
    ]
    /// Words that make a message a statement or question about needs.
    package static let needsWords = [
        "need", "needs", "looking for", "interested", "want", "help me", "how does it work", "what do you offer",
        "preciso", "necessito", "procuro", "quero", "interessado", "interessada", "como funciona",
        "necesito", "busco", "quiero", "interesado", "interesada",
    ]

    /// The share of a message's significant words a chunk must hold to be the answer.
    package static let knowledgeCoverage = 0.5

    /// Creates the provider.
    package init() {}

    /// The answers the knowledge base holds for the lead's messages since our last one: for each message,
    /// the best found chunk holding at least ``knowledgeCoverage`` of its words, and that chunk's
    /// sentences that hold them; each chunk once. Empty when the action asked for a script.
    package static func knowledgeAnswers(for request: AIReplyRequest) -> [(source: KnowledgeSource, text: String)] {
        if let requested = request.requestedScriptID, request.currentScripts.contains(where: { $0.id == requested }) { return [] }
        guard !request.knowledge.isEmpty else { return [] }
        let unanswered = request.conversation.reversed().prefix { $0.author == .lead }.reversed().map(\.text)
        var answers: [(source: KnowledgeSource, text: String)] = []
        for message in unanswered {
            let terms = KnowledgeQuery.terms(message)
            guard !terms.isEmpty else { continue }
            // The chunks come best first, so the first of the best coverage wins a tie.
            var best: (source: KnowledgeSource, coverage: Double)?
            for source in request.knowledge {
                let coverage = KnowledgeQuery.coverage(of: terms, in: source.heading + "\n" + source.text)
                if coverage >= knowledgeCoverage, coverage > (best?.coverage ?? 0) { best = (source, coverage) }
            }
            guard let best, !answers.contains(where: { $0.source == best.source }) else { continue }
            answers.append((best.source, KnowledgeQuery.answeringSentences(of: best.source.text, terms: terms)))
        }
        return answers
    }

    /// Answers from the knowledge base or picks and renders a script; see the type's documentation for the order.
    package func reply(to request: AIReplyRequest, logger: Logger) async -> AIReply {
        let started = ContinuousClock.now
        let answers = Self.knowledgeAnswers(for: request)
        if !answers.isEmpty {
            var result = ExecutionResult(operation: "ai.template", target: "template",
                                         requestSummary: "knowledge \(answers.map(\.source.reference).joined(separator: ", ")); \(request.inboundCount) inbound",
                                         outcome: .succeeded)
            result.latency = ContinuousClock.now - started
            result.elapsed = result.latency
            var reply = AIReply(text: answers.map(\.text).joined(separator: "\n\n"), selection: "knowledge", result: result)
            reply.knowledgeUsed = answers.map(\.source)
            return reply
        }
        guard let (script, selection) = Self.select(for: request) else {
            let reason = "no sales script fits this conversation"
            return AIReply(blockedReason: reason, result: ExecutionResult(
                operation: "ai.template", target: "template", requestSummary: summary(request, script: nil),
                outcome: .skipped, detail: reason))
        }
        var result = ExecutionResult(operation: "ai.template", target: "template",
                                     requestSummary: summary(request, script: script), outcome: .succeeded)
        let rendered: RenderResult
        do {
            rendered = try Template(parsing: script.body).render(values: request.renderValues, policy: .block)
        } catch {
            rendered = .blocked(missing: [])
            result.outcome = .skipped
            result.detail = "script \(script.id) v\(script.version) is not a valid template: \(error.message)"
        }
        result.latency = ContinuousClock.now - started
        result.elapsed = result.latency
        switch rendered {
        case .rendered(let text):
            return AIReply(text: text, scriptID: script.id, scriptVersion: script.version, selection: selection, result: result)
        case .blocked:
            result.outcome = .skipped
            result.detail = result.detail ?? rendered.reason
            logger.info("template reply blocked", metadata: ["script.id": "\(script.id)", "reason": "\(result.detail ?? "")"])
            return AIReply(blockedReason: result.detail, scriptID: script.id, scriptVersion: script.version,
                           selection: selection, result: result)
        }
    }

    /// The script for `request` and why it was chosen; `nil` when none fits.
    package static func select(for request: AIReplyRequest) -> (SalesScript, String)? {
        let all = request.currentScripts
        if let id = request.requestedScriptID, let script = all.first(where: { $0.id == id }) {
            return (script, "requested")
        }
        // Scripts in the reply language first (a stable order otherwise), then those that declare none.
        let inLanguage = all.filter { $0.stageID == nil || $0.stageID == request.stageID }.filter(request.speaksLanguage)
        let usable = inLanguage.filter { $0.language != nil } + inLanguage.filter { $0.language == nil }
        func first(_ type: ScriptType) -> SalesScript? {
            // A script bound to the lead's stage is more specific than one for any stage.
            usable.first { $0.type == type && $0.stageID != nil } ?? usable.first { $0.type == type }
        }
        if request.outboundCount == 0, request.inboundCount <= 1, let greeting = first(.greeting) {
            return (greeting, "first_contact")
        }
        if let inbound = request.lastInboundText, !TextFold.isBlank(inbound) {
            let words = PhraseMatcher(inbound)
            if let script = usable.first(where: { $0.type == .objectionHandling && $0.triggerPhrases.contains(where: words.contains) }) {
                return (script, "objection")
            }
            if let script = usable.first(where: { $0.type != .objectionHandling && $0.triggerPhrases.contains(where: words.contains) }) {
                return (script, "trigger_phrase")
            }
            if priceWords.contains(where: words.contains), let script = first(.presentation) ?? first(.qualification) {
                return (script, "price_question")
            }
            if needsWords.contains(where: words.contains), let script = first(.qualification) ?? first(.presentation) {
                return (script, "needs_question")
            }
        }
        if let stage = request.stageID {
            for type in [ScriptType.qualification, .presentation, .closing, .greeting] {
                if let script = usable.first(where: { $0.type == type && $0.stageID == stage }) {
                    return (script, "stage")
                }
            }
        }
        if let script = usable.first(where: { $0.type == .qualification && $0.stageID == nil }) {
            return (script, "fallback")
        }
        return nil
    }

    private func summary(_ request: AIReplyRequest, script: SalesScript?) -> String {
        let chosen = script.map { "script \($0.id) v\($0.version) (\($0.type.rawValue))" } ?? "no script"
        return "\(chosen); \(request.inboundCount) inbound, stage \(request.stageID.map(String.init) ?? "-")"
    }
}

/// Phrase search on folded words: both sides lowercased, accents removed, split on anything that is not
/// a letter or digit, and compared as whole-word sequences.
struct PhraseMatcher {
    private let text: String

    init(_ text: String) {
        self.text = " " + Self.words(text).joined(separator: " ") + " "
    }

    func contains(_ phrase: String) -> Bool {
        let words = Self.words(phrase)
        guard !words.isEmpty else { return false }
        return text.contains(" " + words.joined(separator: " ") + " ")
    }

    static func words(_ text: String) -> [String] {
        TextFold.fold(text)
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .map(String.init)
    }
}
