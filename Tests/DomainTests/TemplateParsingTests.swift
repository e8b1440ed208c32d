import Foundation
import Testing

@testable import Domain

@Suite("Template parsing")
struct TemplateParsingTests {
    // MARK: - Segments

    @Test func splitsTextAndPlaceholders() throws {
        let template = try Template(parsing: "Hi {{lead.name}}, see you!")
        #expect(template.segments == [
            .literal("Hi "),
            .variable(TemplateVariable(path: "lead.name", defaultValue: nil, offset: 3)),
            .literal(", see you!"),
        ])
        #expect(template.source == "Hi {{lead.name}}, see you!")
    }

    @Test func emptyTemplateHasNoSegments() throws {
        #expect(try Template(parsing: "").segments.isEmpty)
    }

    @Test func textWithoutPlaceholdersIsOneLiteral() throws {
        let text = "No braces here } or {single} ones, and a closing }} alone."
        #expect(try Template(parsing: text).segments == [.literal(text)])
    }

    @Test func adjacentPlaceholdersHaveNoLiteralBetween() throws {
        let template = try Template(parsing: "{{a}}{{b}}")
        #expect(template.segments == [
            .variable(TemplateVariable(path: "a", offset: 0)),
            .variable(TemplateVariable(path: "b", offset: 5)),
        ])
    }

    @Test func extraClosingBraceIsLiteral() throws {
        let template = try Template(parsing: "{{x}}}")
        #expect(template.segments == [.variable(TemplateVariable(path: "x", offset: 0)), .literal("}")])
    }

    @Test(arguments: [
        ("{{lead.name}}", "lead.name", nil),
        ("{{ lead.name }}", "lead.name", nil),
        ("{{\tlead.name  }}", "lead.name", nil),
        ("{{contact.first_name|there}}", "contact.first_name", "there"),
        ("{{ contact.first_name | dear customer, friend! }}", "contact.first_name", "dear customer, friend!"),
        ("{{x|a|b}}", "x", "a|b"),
        ("{{x|smile :}}}", "x", "smile :"),
        ("{{x|a}b}}", "x", "a}b"),
        ("{{x|}}", "x", ""),
        ("{{x|   }}", "x", ""),
        ("{{lead.cf.Callback date}}", "lead.cf.Callback date", nil),
        ("{{ lead.cf.Callback date | soon }}", "lead.cf.Callback date", "soon"),
        ("{{promo_code}}", "promo_code", nil),
    ] as [(String, String, String?)])
    func readsNameAndDefault(source: String, path: String, defaultValue: String?) throws {
        let variable = try #require(try Template(parsing: source).variables.first)
        #expect(variable.path == path)
        #expect(variable.defaultValue == defaultValue)
    }

    @Test func offsetsCountCharactersNotBytes() throws {
        // "Olá " is 4 characters, the skin-toned wave is 1, then a space.
        let template = try Template(parsing: "Olá 👋🏽 {{contact.name}}")
        #expect(template.variables.map(\.offset) == [6])
    }

    @Test func variablesKeepRepeatsInOrder() throws {
        let template = try Template(parsing: "{{b}} {{a}} {{b|x}}")
        #expect(template.variables.map(\.path) == ["b", "a", "b"])
        #expect(template.variables.map(\.defaultValue) == [nil, nil, "x"])
    }

    @Test(arguments: [
        ("{{lead.cf.512345}}", "512345"),
        ("{{lead.cf.Callback date}}", "Callback date"),
        ("{{LEAD.CF.Budget}}", "Budget"),
        ("{{lead.cf. spaced }}", "spaced"),
    ])
    func customFieldKeys(source: String, key: String) throws {
        let variable = try #require(try Template(parsing: source).variables.first)
        #expect(variable.customFieldKey == key)
        #expect(variable.isBuiltIn)
    }

    @Test func notACustomFieldWithoutKey() throws {
        let variable = try #require(try Template(parsing: "{{lead.cf.}}").variables.first)
        #expect(variable.customFieldKey == nil)
        #expect(!variable.isBuiltIn)
    }

    // MARK: - Errors

    @Test(arguments: [
        ("Hi {{lead.name", TemplateError.Kind.unterminatedPlaceholder, 3),
        ("Hi {{lead.name}", .unterminatedPlaceholder, 3),
        ("Hi {{lead.name\n}}", .unterminatedPlaceholder, 3),
        ("ok {{a}} then {{", .unterminatedPlaceholder, 14),
        ("{{}}", .emptyVariableName, 0),
        ("a {{   }}", .emptyVariableName, 2),
        ("{{|default}}", .emptyVariableName, 0),
        ("{{a {{b}} }}", .nestedPlaceholder, 4),
        ("{{x|a{{b}}", .nestedPlaceholder, 5),
        ("{{{x}}}", .invalidCharacter("{"), 2),
        ("{{a}b}}", .invalidCharacter("}"), 3),
        ("{{x|a{b}}", .invalidCharacter("{"), 5),
        // A `{` in a default could sit next to a literal `{` and print "{{" from template text.
        ("{{x|{}}{lead.name}}", .invalidCharacter("{"), 4),
        ("{{a\u{7}b}}", .invalidCharacter("\u{7}"), 3),
    ] as [(String, TemplateError.Kind, Int)])
    func rejectsMalformedPlaceholders(source: String, kind: TemplateError.Kind, offset: Int) {
        #expect(throws: TemplateError(kind, at: offset)) { try Template(parsing: source) }
    }

    @Test func errorMessageNamesThePosition() {
        let error = #expect(throws: TemplateError.self) { try Template(parsing: "Hi {{lead.name") }
        #expect(error?.message.contains("character 3") == true)
        #expect(error?.fieldProblem(field: "body") == FieldProblem(field: "body", message: error?.message ?? ""))
    }

    @Test func invisibleCharactersAreSpelledOut() {
        let error = #expect(throws: TemplateError.self) { try Template(parsing: "{{a\u{7}}}") }
        #expect(error?.message.contains("U+7") == true)
    }

    @Test func lengthIsCapped() throws {
        let atLimit = String(repeating: "a", count: Template.maximumLength)
        #expect(try Template(parsing: atLimit).source.count == Template.maximumLength)
        #expect(throws: TemplateError(.tooLong(limit: Template.maximumLength), at: Template.maximumLength)) {
            try Template(parsing: atLimit + "a")
        }
    }

    @Test func lengthCapCountsCharactersNotBytes() throws {
        // 20 000 four-byte characters are within the cap even though they are 80 000 bytes.
        let wide = String(repeating: "😀", count: Template.maximumLength)
        #expect(try Template(parsing: wide).segments.count == 1)
    }

    @Test func variableCountIsCapped() throws {
        let atLimit = String(repeating: "{{x}}", count: Template.maximumVariables)
        #expect(try Template(parsing: atLimit).variables.count == Template.maximumVariables)
        #expect(throws: TemplateError(.tooManyVariables(limit: Template.maximumVariables), at: Template.maximumVariables * 5)) {
            try Template(parsing: atLimit + "{{x}}")
        }
    }

    // MARK: - Unknown variables

    @Test(arguments: TemplateVocabulary.builtInNames)
    func builtInNamesAreKnown(name: String) throws {
        let template = try Template(parsing: "{{\(name)}} {{ \(name.uppercased()) |x}}")
        #expect(template.unknownVariables(known: []).isEmpty)
    }

    @Test func reportsUndeclaredNamesOnceInOrder() throws {
        let template = try Template(parsing: """
            Hi {{contact.first_name|there}}, {{lead.cf.Callback date}} {{lead.cf.512}} \
            {{promo_code}} {{lead.nmae}} {{Promo_Code}} {{ lead.nmae }} {{lead.cf.}} {{agent.name}}
            """)
        #expect(template.unknownVariables(known: []) == ["promo_code", "lead.nmae", "lead.cf."])
        #expect(template.unknownVariables(known: ["PROMO_CODE "]) == ["lead.nmae", "lead.cf."])
        #expect(template.unknownVariables(known: ["promo_code", "lead.nmae", "lead.cf."]).isEmpty)
    }

    // MARK: - Codable

    @Test func encodesAsItsSourceString() throws {
        let template = try Template(parsing: "Hi {{lead.name|there}}")
        let data = try JSONEncoder().encode([template])
        #expect(String(decoding: data, as: UTF8.self) == #"["Hi {{lead.name|there}}"]"#)
        #expect(try JSONDecoder().decode([Template].self, from: data) == [template])
    }

    @Test func decodingRejectsInvalidTemplates() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Template].self, from: Data(#"["Hi {{lead.name"]"#.utf8))
        }
    }
}
