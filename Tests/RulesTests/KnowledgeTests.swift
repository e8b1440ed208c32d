import Basics
import Domain
import Foundation
import Rules
import Testing
import Wire

@Suite("knowledge base: chunking, ranking, versions")
struct KnowledgeTests {
    // MARK: - Chunking

    @Test("Markdown sections become chunks under their own heading, none longer than the maximum, long ones overlapping")
    func markdownChunks() {
        let long = (1...40).map { "Sentence number \($0) about the warranty terms of our ovens." }.joined(separator: " ")
        let text = """
            Intro paragraph before any heading.

            # Delivery
            We deliver to Valencia and Madrid in 48 hours.

            Orders above 100 EUR ship free.

            ## Warranty
            \(long)

            Returns
            -------
            Thirty days, no questions asked.
            """
        let chunks = KnowledgeChunker.chunks(of: text, format: "markdown", title: "Shop FAQ")
        #expect(chunks.first == KnowledgeChunk(heading: "Shop FAQ", text: "Intro paragraph before any heading."))
        #expect(chunks[1] == KnowledgeChunk(heading: "Delivery", text: "We deliver to Valencia and Madrid in 48 hours.\n\nOrders above 100 EUR ship free."))
        let warranty = chunks.filter { $0.heading == "Warranty" }
        #expect(warranty.count >= 3)
        #expect(chunks.allSatisfy { $0.text.count <= KnowledgeChunker.maximum })
        #expect(warranty.dropLast().allSatisfy { $0.text.count >= 500 })
        // The second chunk starts with the last sentence of the first.
        let opening = warranty[1].text.prefix { $0 != "." }
        #expect(warranty[0].text.hasSuffix(opening + "."))
        #expect(chunks.last == KnowledgeChunk(heading: "Returns", text: "Thirty days, no questions asked."))
        // Every sentence of the long section is in some chunk.
        for number in [1, 17, 40] { #expect(warranty.contains { $0.text.contains("Sentence number \(number) about") }) }
    }

    @Test("HTML loses its tags, scripts and entities but keeps its headings; CSV is one chunk per row with the header's names")
    func htmlAndCSV() {
        let html = """
            <html><head><title>x</title><style>p { color: red }</style></head><body>
            <h1>Opening hours</h1><p>Mon&ndash;Fri 9&nbsp;to&nbsp;18.<br>Sat <b>10 to 14</b> &amp; Sun closed.</p>
            <script>alert("no")</script><h2>Parking</h2><ul><li>Free for clients</li><li>Entrance on Calle Mayor</li></ul></body></html>
            """
        let chunks = KnowledgeChunker.chunks(of: html, format: "html", title: "Store")
        #expect(chunks.map(\.heading) == ["Opening hours", "Parking"])
        #expect(chunks[0].text == "Mon–Fri 9 to 18.\nSat 10 to 14 & Sun closed.")
        #expect(chunks[1].text == "- Free for clients\n- Entrance on Calle Mayor")

        let csv = "sku,name,price,notes\nA-1,Oven Pro,499,\"Steel, 60 cm\"\n\nB-2,\"Kettle \"\"Mini\"\"\",29,\n"
        let rows = KnowledgeChunker.chunks(of: csv, format: "csv", title: "Catalog")
        #expect(rows == [
            KnowledgeChunk(heading: "Catalog", text: "sku: A-1; name: Oven Pro; price: 499; notes: Steel, 60 cm"),
            KnowledgeChunk(heading: "Catalog", text: "sku: B-2; name: Kettle \"Mini\"; price: 29"),
        ])
        #expect(KnowledgeChunker.chunks(of: "a;b\n1;2", format: "csv", title: "T").map(\.text) == ["a: 1; b: 2"])
    }

    @Test("a question keeps its significant words, folded; coverage counts them by stem")
    func queryTerms() {
        #expect(KnowledgeQuery.terms("Hola! ¿Hacen entregas en Valéncia?") == ["entregas", "valencia"])
        #expect(KnowledgeQuery.terms("Do you deliver to Valencia?") == ["deliver", "valencia"])
        #expect(KnowledgeQuery.terms("hi!") == [])
        #expect(KnowledgeQuery.matchExpression(["delivery", "valencia"]) == #""delive"* OR "valenc"*"#)
        #expect(KnowledgeQuery.coverage(of: ["entregas", "valencia"], in: "Entrega a domicilio en Valencia") == 1)
        #expect(KnowledgeQuery.coverage(of: ["entregas", "valencia"], in: "Recogida en Madrid") == 0)
    }

    // MARK: - Ranking over the service

    static func search(_ tenant: Tenant, agent: String, _ text: String, limit: Int32 = 0) async throws -> PB.KnowledgeHits {
        var query = PB.KnowledgeQuery()
        query.agentId = agent
        query.text = text
        query.limit = limit
        return try await tenant.client.searchKnowledge(query, options: tenant.options)
    }

    static func create(_ tenant: Tenant, agent: String, _ body: [String: Any]) async throws -> PB.Document {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        return try await tenant.client.createKnowledge(Tenant.write(json, parent: agent), options: tenant.options)
    }

    @Test("the chunk that answers a question ranks first, accents and inflections aside; inactive documents and other agents are not searched")
    func ranking() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let other = try await acme.createAgent(#"{"name": "Max"}"#)
            let faq = try await Self.create(acme, agent: agent.id, [
                "title": "Preguntas frecuentes", "format": "markdown",
                "content": """
                    # Envíos
                    Hacemos entregas a domicilio en Valencia y Madrid en 48 horas. El envío es gratis desde 100 EUR.

                    # Pagos
                    Aceptamos tarjeta, Bizum y transferencia bancaria.

                    # Garantía
                    Todos los hornos tienen dos años de garantía del fabricante.
                    """,
            ])
            #expect(try object(faq)["chunk_count"] as? Int == 3)
            _ = try await Self.create(acme, agent: agent.id, [
                "title": "Catálogo", "format": "csv", "content": "sku,name,price\nOV-1,Horno Pro 60,499\nKT-2,Hervidor Mini,29",
            ])
            _ = try await Self.create(acme, agent: agent.id, [
                "title": "Old delivery notes", "content": "Valencia deliveries are suspended.", "active": false,
            ])
            _ = try await Self.create(acme, agent: other.id, ["title": "Other", "content": "Entregas en Valencia cada lunes."])

            let delivery = try await Self.search(acme, agent: agent.id, "¿Hacen entrega en valencia?")
            #expect(delivery.terms == ["hacen", "entrega", "valencia"] || delivery.terms == ["entrega", "valencia"])
            let first = try #require(delivery.items.first)
            #expect(first.documentId == faq.id)
            #expect(first.heading == "Envíos")
            #expect(first.chunk == 0 && first.version == 1)
            #expect(first.coverage >= 0.66)
            #expect(delivery.items.allSatisfy { $0.documentId == faq.id || $0.title == "Catálogo" })

            let price = try await Self.search(acme, agent: agent.id, "precio del horno pro")
            #expect(price.items.first?.text.contains("Horno Pro 60") == true, "\(price.items.map(\.text))")
            let payment = try await Self.search(acme, agent: agent.id, "puedo pagar con bizum?")
            #expect(payment.items.first?.heading == "Pagos")

            // A new version is indexed again and named by its hits; the old text is gone.
            let patched = try await acme.client.updateKnowledge(Tenant.write(##"{"content": "# Envíos\nEntregas en Sevilla, no en Valencia."}"##, id: faq.id, parent: agent.id),
                                                                options: acme.options)
            #expect(patched.version == 2)
            let again = try await Self.search(acme, agent: agent.id, "entregas valencia")
            #expect(again.items.first?.version == 2)
            #expect(try await Self.search(acme, agent: agent.id, "bizum").items.isEmpty)
            let reindexed = try await acme.client.reindexKnowledge(Tenant.ref(faq.id, parent: agent.id), options: acme.options)
            #expect(reindexed.version == 2)

            // Bounds are field errors; another tenant's agent is not found.
            let long = await rpcError { try await Self.search(acme, agent: agent.id, String(repeating: "a", count: 501)) }
            #expect(long?.code == .invalidArgument)
            #expect(long?.violations.first?.field == "q")
            let big = await rpcError { try await Self.create(acme, agent: agent.id, ["title": "Big", "content": String(repeating: "word ", count: 40_001)]) }
            #expect(big?.violations.first?.field == "content")
            let badFormat = await rpcError { try await Self.create(acme, agent: agent.id, ["title": "X", "format": "docx", "content": "x"]) }
            #expect(badFormat?.violations.first?.field == "format")
            let foreign = await rpcError { try await Self.search(service.tenant("t_other"), agent: agent.id, "entregas") }
            #expect(foreign?.code == .notFound)

            // Listings leave the content out; deleting the agent takes its knowledge with it.
            let page = try await acme.client.listKnowledge(Tenant.query(parent: agent.id), options: acme.options)
            #expect(page.items.count == 3)
            #expect(try page.items.allSatisfy { try object($0)["content"] == nil && object($0)["chunk_count"] is Int })
            _ = try await acme.client.deleteAgent(Tenant.ref(agent.id, cascade: true), options: acme.options)
            let gone = await rpcError { try await acme.client.getKnowledge(Tenant.ref(faq.id), options: acme.options) }
            #expect(gone?.code == .notFound)
        }
    }
}
