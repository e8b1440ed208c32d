import Foundation

// MARK: - Policy and result

/// What rendering does with a placeholder whose value is missing and which has no default.
package enum MissingValuePolicy: String, Codable, Sendable, CaseIterable {
    /// Use the placeholder's default, or nothing when it has none. For drafts, previews and internal notes.
    case useDefaultOrEmpty = "use_default_or_empty"
    /// Use the placeholder's default; when it has none, refuse to render, so a lead is never sent
    /// "Hello , …". For messages that go to a lead.
    case block
}

/// The outcome of rendering a template.
package enum RenderResult: Hashable, Sendable {
    /// The finished text.
    case rendered(String)
    /// Rendering was refused under ``MissingValuePolicy/block``: these variables (each once, in order of
    /// first appearance, spelled as in the template) had no value and no default.
    case blocked(missing: [String])

    /// The text when rendered, otherwise `nil`.
    package var text: String? {
        if case .rendered(let text) = self { text } else { nil }
    }

    /// Why the send was blocked, for the action log and the operator; `nil` when rendered.
    package var reason: String? {
        guard case .blocked(let missing) = self else { return nil }
        let names = missing.map { "{{\($0)}}" }.joined(separator: ", ")
        let noun = missing.count == 1 ? "variable has" : "variables have"
        return "Not sent: the \(noun) no value and no default: \(names)."
    }
}

// MARK: - Rendering

extension Template {
    /// Replaces every placeholder with its value (see ``TemplateValues/resolve(_:)``), else its default,
    /// else what `policy` says.
    ///
    /// One pass: a value is inserted as is and never scanned for placeholders, so a lead named
    /// "{{manager.name}}" stays exactly that and a value cannot pull in other values.
    package func render(values: TemplateValues, policy: MissingValuePolicy) -> RenderResult {
        var output = ""
        output.reserveCapacity(source.utf8.count)
        var missing: [String] = []
        var reported = Set<String>()
        for segment in segments {
            switch segment {
            case .literal(let text):
                output += text
            case .variable(let variable):
                if let value = values.resolve(variable.path) {
                    output += value
                } else if let defaultValue = variable.defaultValue {
                    output += defaultValue
                } else if policy == .block, reported.insert(TemplateVocabulary.normalize(variable.path)).inserted {
                    missing.append(variable.path)
                }
            }
        }
        return missing.isEmpty ? .rendered(output) : .blocked(missing: missing)
    }
}
