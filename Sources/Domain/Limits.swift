// MARK: - Limits

/// The documented maximum of every list and string inside rules, sequences, scripts and agents, and the
/// evaluation budget of one event. Defined once here: the services' validation refuses what exceeds them
/// with a field error naming the path, and the gateway's OpenAPI document states the same numbers as
/// `maxItems` / `maxLength`, so the contract and the enforcement cannot drift apart.
///
/// Why they exist: a stored rule is evaluated for every event of its tenant, on a process shared with every
/// other tenant. Unbounded lists (80,000 keywords) made one evaluation cost seconds.
package enum Limits {
    // MARK: Shared

    /// Names of agents, rules, sequences and scripts.
    package static let nameLength = 200
    /// Free-text descriptions.
    package static let descriptionLength = 2_000
    /// Items of an id list (`stage_ids`, `pipeline_ids`, `user_ids`, an agent's pipelines or channels).
    package static let idItems = 100
    /// Longest cooldown, delay or duration: a year.
    package static let maxSeconds = 366 * 24 * 3600

    // MARK: Conditions

    /// Deepest nesting of condition groups (the root counts as 1).
    package static let conditionDepth = 8
    /// Most nodes (groups and leaves) in one condition tree.
    package static let conditionNodes = 200
    /// Children of one `all` / `any` group.
    package static let groupItems = 50
    /// Keywords of one `message_text` `contains_any` leaf.
    package static let keywordItems = 100
    /// Characters of one keyword.
    package static let keywordLength = 200
    /// Characters of a regular expression (`message_text` `pattern`, `field_value` `matches`).
    package static let patternLength = 512
    /// Values of an `in` / `not_in` leaf, channels of a `message_origin` leaf.
    package static let valueItems = 100
    /// Characters of one compared value or channel name.
    package static let valueLength = 1_000

    // MARK: Actions

    /// Actions of one rule.
    package static let actions = 20
    /// Characters of a message, note, task text, AI instructions or webhook payload template.
    package static let templateLength = 4_000
    /// Tags of one `add_tags` / `remove_tags` action.
    package static let tagItems = 50
    /// Characters of one tag.
    package static let tagLength = 200
    /// Parameters of one `kommo_action`.
    package static let parameterItems = 50
    /// Characters of a webhook URL.
    package static let urlLength = 2_048

    // MARK: Sequences, scripts, agents

    /// Steps of one sequence.
    package static let sequenceSteps = 50
    /// Exit conditions of one sequence.
    package static let exitConditions = 20
    /// Characters of a sales script's body.
    package static let scriptLength = 20_000
    /// Trigger phrases of a sales script.
    package static let triggerPhrases = 50
    /// Variables a sales script declares.
    package static let scriptVariables = 50
    /// Characters of an agent's persona.
    package static let personaLength = 10_000

    // MARK: Knowledge base

    /// Characters of one knowledge document's content.
    package static let knowledgeDocumentLength = 200_000
    /// Knowledge documents of one agent.
    package static let knowledgeDocuments = 200
    /// Characters of a knowledge search query.
    package static let knowledgeQueryLength = 500
    /// Chunks one knowledge search answers.
    package static let knowledgeResults = 20

    // MARK: Evaluation budget

    /// Work units one rule may spend on one event: one per condition node evaluated plus one per byte a
    /// matcher scans (a keyword search scans the message once per keyword, a pattern scans it once).
    /// A valid rule with a few dozen conditions on a 4 KiB message spends well under a tenth of this.
    package static let ruleBudget = 1_000_000
    /// Work units all rules together may spend on one event; rules reached after it is spent are not
    /// evaluated and say so.
    package static let eventBudget = 4_000_000
}
