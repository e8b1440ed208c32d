import Foundation
import Testing

@testable import Domain

/// SplitMix64: small, fast, and the same sequence on every platform, so a failure reproduces.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Template properties")
struct TemplatePropertyTests {
    /// Characters for random text; braces and pipes are frequent so that tricky neighbours (`{` next to
    /// a placeholder, `{` in a default, `}}` inside a name) come up often.
    static let characters: [Character] = ["{", "{", "}", "}", "|", " ", "\n", "a", "x", "é", "👋", "."]
    /// Names, some with values and some without.
    static let names = ["lead.name", "x", "a", "contact.first_name", "lead.cf.Budget", "nobody"]

    /// A random template: a mix of single characters and things that look like placeholders, whose
    /// insides are again random characters or a name with a random default.
    static func randomTemplate(using random: inout some RandomNumberGenerator) -> String {
        func text(_ range: ClosedRange<Int>) -> String {
            String((0..<Int.random(in: range, using: &random)).map { _ in characters.randomElement(using: &random)! })
        }
        var source = ""
        for _ in 0..<Int.random(in: 0...8, using: &random) {
            switch Int.random(in: 0..<3, using: &random) {
            case 0: source += text(1...3)
            case 1: source += "{{" + text(0...4) + "}}"
            default: source += "{{" + names.randomElement(using: &random)! + "|" + text(0...3) + "}}"
            }
        }
        return source
    }

    /// Values without braces, so any `{{` in the output could only have come from the template.
    static let values: TemplateValues = {
        var values: TemplateValues = ["lead.name": "Deal", "x": "X|Y", "a": "", "contact.name": "Ana López"]
        values.setCustomField(id: "1", name: "Budget", value: "100 }")
        return values
    }()

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func noPlaceholderFromTheTemplateSurvivesRendering(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var parsed = 0
        for _ in 0..<3_000 {
            let source = Self.randomTemplate(using: &random)
            let template: Template
            do {
                template = try Template(parsing: source)
            } catch {
                #expect((0...source.count).contains(error.offset), "offset out of range for \(source.debugDescription)")
                continue
            }
            parsed += 1
            for segment in template.segments {
                if case .literal(let text) = segment {
                    #expect(!text.contains("{{"), "literal with {{ in \(source.debugDescription)")
                }
            }
            for policy in MissingValuePolicy.allCases {
                switch template.render(values: Self.values, policy: policy) {
                case .rendered(let output):
                    #expect(!output.contains("{{"), "\(source.debugDescription) rendered \(output.debugDescription)")
                case .blocked(let missing):
                    #expect(policy == .block && !missing.isEmpty)
                }
            }
        }
        // The generator must produce both outcomes, or the loop proves nothing about rendering.
        #expect(parsed > 100)
    }

    /// Builds templates that are valid by construction together with their expected output, and checks
    /// that rendering gives exactly that, including values that look like placeholders.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func wellFormedTemplatesRenderToTheirExpectation(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let names = ["lead.name", "contact.first_name", "promo", "lead.cf.Budget", "missing"]
        let literalCharacters = Array("ab }|.,!é\n")
        let values: TemplateValues = {
            var values: TemplateValues = ["lead.name": "{{promo}}", "contact.name": "Ana López", "promo": "}} {{ x"]
            values.setCustomField(id: "1", name: "Budget", value: "{{lead.name}}")
            return values
        }()
        let resolved: [String: String] = [
            "lead.name": "{{promo}}", "contact.first_name": "Ana", "promo": "}} {{ x", "lead.cf.Budget": "{{lead.name}}",
        ]
        for _ in 0..<500 {
            var source = ""
            var expected = ""
            var missing: [String] = []
            for _ in 0..<Int.random(in: 0...8, using: &random) {
                if Bool.random(using: &random) {
                    let text = String((0..<Int.random(in: 1...5, using: &random)).map { _ in literalCharacters.randomElement(using: &random)! })
                    source += text
                    expected += text
                } else {
                    let name = names.randomElement(using: &random)!
                    let pad = Bool.random(using: &random) ? " " : ""
                    let defaultValue: String? = Bool.random(using: &random) ? ["there", "", "a | b"].randomElement(using: &random)! : nil
                    source += "{{\(pad)\(name)\(pad)\(defaultValue.map { "|\($0)" } ?? "")}}"
                    if let value = resolved[name] {
                        expected += value
                    } else if let defaultValue {
                        expected += defaultValue
                    } else if !missing.contains(name) {
                        missing.append(name)
                    }
                }
            }
            let template = try Template(parsing: source)
            #expect(template.render(values: values, policy: .block) == (missing.isEmpty ? .rendered(expected) : .blocked(missing: missing)),
                    "\(source.debugDescription)")
            if missing.isEmpty {
                #expect(template.render(values: values, policy: .useDefaultOrEmpty) == .rendered(expected))
            }
        }
    }
}
