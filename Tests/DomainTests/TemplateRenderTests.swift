import Foundation
import Testing

@testable import Domain

@Suite("Template rendering")
struct TemplateRenderTests {
    /// Values for every kind of variable, each distinct so a wrong lookup shows.
    static let everything: TemplateValues = {
        var values: TemplateValues = [
            "lead.id": "9001",
            "lead.name": "Website redesign",
            "lead.price": "12500",
            "lead.stage": "Negotiation",
            "lead.pipeline": "Sales",
            "lead.responsible": "Marta",
            "contact.name": "Ana María López",
            "contact.last_name": "López",
            "contact.phone": "+34 600 000 000",
            "contact.email": "ana@example.com",
            "agent.name": "Sofia",
            "manager.name": "Jorge",
            "promo_code": "SPRING25",
        ]
        values.setCustomField(id: "512345", name: "Callback date", value: "2025-04-01")
        return values
    }()

    private func render(_ source: String, _ values: TemplateValues = Self.everything,
                        policy: MissingValuePolicy = .block) throws -> RenderResult {
        try Template(parsing: source).render(values: values, policy: policy)
    }

    // MARK: - Every variable kind

    @Test(arguments: [
        ("{{lead.id}}", "9001"),
        ("{{lead.name}}", "Website redesign"),
        ("{{lead.price}}", "12500"),
        ("{{lead.stage}}", "Negotiation"),
        ("{{lead.pipeline}}", "Sales"),
        ("{{lead.responsible}}", "Marta"),
        ("{{contact.name}}", "Ana María López"),
        ("{{contact.first_name}}", "Ana"),
        ("{{contact.last_name}}", "López"),
        ("{{contact.phone}}", "+34 600 000 000"),
        ("{{contact.email}}", "ana@example.com"),
        ("{{agent.name}}", "Sofia"),
        ("{{manager.name}}", "Jorge"),
        ("{{lead.cf.512345}}", "2025-04-01"),
        ("{{lead.cf.Callback date}}", "2025-04-01"),
        ("{{lead.cf.CALLBACK DATE}}", "2025-04-01"),
        ("{{ lead.cf. callback date }}", "2025-04-01"),
        ("{{promo_code}}", "SPRING25"),
        ("{{ Lead.Name }}", "Website redesign"),
    ])
    func rendersEachKind(source: String, expected: String) throws {
        #expect(try render("<\(source)>") == .rendered("<\(expected)>"))
    }

    @Test func rendersAWholeScript() throws {
        let result = try render("""
            Hola {{contact.first_name|there}}, soy {{agent.name}}. Sobre "{{lead.name}}" \
            ({{lead.price}} €): ¿te llamo el {{lead.cf.Callback date}}? Código: {{promo_code}}.
            """)
        #expect(result == .rendered("""
            Hola Ana, soy Sofia. Sobre "Website redesign" (12500 €): ¿te llamo el 2025-04-01? Código: SPRING25.
            """))
        #expect(result.text != nil)
        #expect(result.reason == nil)
    }

    // MARK: - Defaults and missing values

    @Test(arguments: MissingValuePolicy.allCases)
    func defaultFillsAMissingValue(policy: MissingValuePolicy) throws {
        #expect(try render("Hi {{contact.first_name|there}}!", [:], policy: policy) == .rendered("Hi there!"))
        #expect(try render("{{x | dear customer, friend! }}", [:], policy: policy) == .rendered("dear customer, friend!"))
    }

    @Test(arguments: MissingValuePolicy.allCases)
    func valueWinsOverDefault(policy: MissingValuePolicy) throws {
        #expect(try render("Hi {{contact.first_name|there}}!", ["contact.first_name": "Luis"], policy: policy) == .rendered("Hi Luis!"))
    }

    @Test(arguments: ["", "   ", "\t\n"])
    func emptyOrBlankValuesCountAsMissing(blank: String) throws {
        let values: TemplateValues = ["lead.name": blank]
        #expect(try render("[{{lead.name|no name}}]", values) == .rendered("[no name]"))
        #expect(try render("[{{lead.name}}]", values, policy: .useDefaultOrEmpty) == .rendered("[]"))
        #expect(try render("[{{lead.name}}]", values, policy: .block) == .blocked(missing: ["lead.name"]))
    }

    @Test func useDefaultOrEmptyLeavesMissingValuesEmpty() throws {
        #expect(try render("Hi {{contact.first_name}}, {{promo}}.", [:], policy: .useDefaultOrEmpty) == .rendered("Hi , ."))
    }

    @Test func blockListsEachMissingNameOnceInOrder() throws {
        let result = try render(
            "{{lead.name}} {{contact.phone}} {{lead.name}} {{ LEAD.NAME }} {{agent.name|us}} {{lead.cf.Budget}}",
            [:], policy: .block
        )
        #expect(result == .blocked(missing: ["lead.name", "contact.phone", "lead.cf.Budget"]))
        #expect(result.text == nil)
        let reason = try #require(result.reason)
        #expect(reason.contains("{{lead.name}}, {{contact.phone}}, {{lead.cf.Budget}}"))
        #expect(reason.contains("variables have no value"))
    }

    @Test func blockReasonIsSingularForOneName() throws {
        let result = try render("Hi {{contact.name}}", [:], policy: .block)
        #expect(result.reason == "Not sent: the variable has no value and no default: {{contact.name}}.")
    }

    @Test func emptyDefaultMakesAVariableOptionalUnderBlock() throws {
        #expect(try render("Hi{{contact.first_name|}}!", [:], policy: .block) == .rendered("Hi!"))
    }

    @Test func blockDoesNotBlockWhenEverythingIsPresent() throws {
        #expect(try render("{{lead.name}}", policy: .block) == .rendered("Website redesign"))
    }

    // MARK: - Single pass

    @Test(arguments: MissingValuePolicy.allCases)
    func valuesAreNeverExpanded(policy: MissingValuePolicy) throws {
        let values: TemplateValues = [
            "lead.name": "{{manager.name}}",
            "manager.name": "Jorge",
            "contact.name": "{{ {{lead.name}}",
        ]
        #expect(try render("{{lead.name}}|{{contact.name}}|{{manager.name}}", values, policy: policy)
            == .rendered("{{manager.name}}|{{ {{lead.name}}|Jorge"))
    }

    @Test func defaultsAreInsertedLiterally() throws {
        #expect(try render("{{x|50% off | today}}", [:]) == .rendered("50% off | today"))
    }

    // MARK: - contact.first_name

    @Test(arguments: [
        ("Ana María López", "Ana"),
        ("  Ana   María ", "Ana"),
        ("Ana\tMaría", "Ana"),
        ("Cher", "Cher"),
    ])
    func firstNameIsDerivedFromTheFullName(fullName: String, expected: String) throws {
        #expect(try render("{{contact.first_name}}", ["contact.name": fullName]) == .rendered(expected))
    }

    @Test func givenFirstNameWinsOverDerivation() throws {
        let values: TemplateValues = ["contact.name": "Ana María López", "contact.first_name": "Anita"]
        #expect(try render("{{contact.first_name}}", values) == .rendered("Anita"))
    }

    @Test func blankGivenFirstNameFallsBackToDerivation() throws {
        let values: TemplateValues = ["contact.name": "Ana López", "contact.first_name": ""]
        #expect(try render("{{contact.first_name}}", values) == .rendered("Ana"))
    }

    @Test func noFirstNameWithoutAFullName() throws {
        #expect(try render("{{contact.first_name}}", ["contact.name": "  "]) == .blocked(missing: ["contact.first_name"]))
    }
}
