import Foundation
import Hummingbird
import NIOHTTP1
import Sequences
import Synchronization
import TestSupport
import Testing

/// An agent's knowledge base through the REST API with every service real and in process.
@Suite("Knowledge journey", .serialized)
struct KnowledgeJourneyTests {
    @Test("upload, search preview finds the answering chunk, a re-upload is a new version, bounds are field errors, another tenant gets 404")
    func knowledge() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let acme = try await client.createTenant(admin: system.adminToken, name: "acme")
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
            let agentID = agent.json["id"] as? String ?? ""
            let base = "/api/v1/agents/\(agentID)/knowledge"
            let faq = try await client.json(.POST, base, [
                "title": "Delivery and returns", "format": "markdown", "source": "https://shop.example/faq",
                "content": "# Delivery\nWe deliver to Valencia and Madrid within 48 hours.\n\n# Returns\nYou may return any oven within 30 days.",
            ], token: acme.key)
            #expect(faq.status == 201, "\(faq.text)")
            #expect(faq.json["chunk_count"] as? Int == 2)
            #expect(faq.json["version"] as? Int == 1)
            let faqID = faq.json["id"] as? String ?? ""
            let page = try await client.json(.POST, base, [
                "title": "About us", "format": "html",
                "content": "<h1>Who we are</h1><p>A family shop selling ovens since 1998.</p><script>x()</script>",
            ], token: acme.key)
            #expect(page.status == 201, "\(page.text)")

            let search = try await client.request(.GET, "\(base)/search?q=Do%20you%20deliver%20to%20Val%C3%A9ncia%3F", token: acme.key)
            #expect(search.status == 200, "\(search.text)")
            let items = search.json["items"] as? [[String: Any]] ?? []
            #expect(items.first?["document_id"] as? String == faqID, "\(search.text)")
            #expect(items.first?["heading"] as? String == "Delivery")
            #expect((items.first?["text"] as? String)?.contains("48 hours") == true)
            #expect((items.first?["score"] as? Double ?? 0) > 0)
            #expect(search.json["terms"] as? [String] == ["deliver", "valencia"])

            let listed = try await client.request(.GET, base, token: acme.key)
            #expect((listed.json["items"] as? [[String: Any]])?.count == 2)
            #expect((listed.json["items"] as? [[String: Any]])?.allSatisfy { $0["content"] == nil } == true)
            let one = try await client.request(.GET, "\(base)/\(faqID)", token: acme.key)
            #expect((one.json["content"] as? String)?.hasPrefix("# Delivery") == true)

            let patched = try await client.json(.PATCH, "\(base)/\(faqID)", [
                "content": "# Delivery\nWe deliver to Valencia, Madrid and Sevilla within 24 hours.",
            ], token: acme.key)
            #expect(patched.json["version"] as? Int == 2, "\(patched.text)")
            let again = try await client.request(.GET, "\(base)/search?q=deliver%20valencia", token: acme.key)
            let first = (again.json["items"] as? [[String: Any]])?.first
            #expect(first?["version"] as? Int == 2)
            #expect((first?["text"] as? String)?.contains("24 hours") == true)
            let versions = try await client.request(.GET, "\(base)/\(faqID)/versions", token: acme.key)
            #expect(versions.status == 200, "\(versions.text)")
            let history = versions.json["items"] as? [[String: Any]] ?? []
            #expect(history.map { $0["version"] as? Int ?? 0 } == [2, 1])
            #expect((history.last?["document"] as? [String: Any])?["characters"] as? Int == 112)
            #expect((history.last?["document"] as? [String: Any])?["content"] == nil)
            let reindexed = try await client.json(.POST, "\(base)/\(faqID)/reindex", [:], token: acme.key)
            #expect(reindexed.status == 200, "\(reindexed.text)")
            #expect(reindexed.json["version"] as? Int == 2)

            let empty = try await client.request(.GET, "\(base)/search?q=", token: acme.key)
            #expect(empty.status == 400)
            let tooLong = try await client.request(.GET, "\(base)/search?q=\(String(repeating: "a", count: 501))", token: acme.key)
            #expect(tooLong.status == 400)
            #expect((tooLong.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "q")
            let badFormat = try await client.json(.POST, base, ["title": "X", "format": "docx", "content": "x"], token: acme.key)
            #expect(badFormat.status == 400)
            #expect((badFormat.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "format")

            // Another tenant sees none of it, not even through its own agent.
            let other = try await client.createTenant(admin: system.adminToken, name: "other")
            let otherAgent = try await client.json(.POST, "/api/v1/agents", ["name": "Max"], token: other.key)
            let otherAgentID = otherAgent.json["id"] as? String ?? ""
            _ = try await client.json(.POST, "/api/v1/agents/\(otherAgentID)/knowledge",
                                      ["title": "Theirs", "content": "We deliver to Valencia on Mondays."], token: other.key)
            var statuses: [String: Int] = [:]
            statuses["get"] = try await client.request(.GET, "\(base)/\(faqID)", token: other.key).status
            statuses["list"] = try await client.request(.GET, base, token: other.key).status
            statuses["search"] = try await client.request(.GET, "\(base)/search?q=valencia", token: other.key).status
            statuses["patch"] = try await client.json(.PATCH, "\(base)/\(faqID)", ["title": "Mine"], token: other.key).status
            statuses["versions"] = try await client.request(.GET, "\(base)/\(faqID)/versions", token: other.key).status
            statuses["reindex"] = try await client.json(.POST, "\(base)/\(faqID)/reindex", [:], token: other.key).status
            statuses["delete"] = try await client.request(.DELETE, "\(base)/\(faqID)", token: other.key).status
            statuses["get via own agent"] = try await client.request(.GET, "/api/v1/agents/\(otherAgentID)/knowledge/\(faqID)", token: other.key).status
            for (name, status) in statuses.sorted(by: { $0.key < $1.key }) {
                #expect(status == 404, "\(name) answered \(status)")
            }
            let theirs = try await client.request(.GET, "/api/v1/agents/\(otherAgentID)/knowledge/search?q=valencia", token: other.key)
            #expect((theirs.json["items"] as? [[String: Any]])?.map { $0["title"] as? String ?? "" } == ["Theirs"])
            let mine = try await client.request(.GET, "\(base)/search?q=valencia", token: acme.key)
            #expect((mine.json["items"] as? [[String: Any]])?.contains { $0["title"] as? String == "Theirs" } == false)

            let deleted = try await client.request(.DELETE, "\(base)/\(faqID)", token: acme.key)
            #expect(deleted.status == 204)
            let after = try await client.request(.GET, "\(base)/search?q=deliver%20valencia", token: acme.key)
            #expect((after.json["items"] as? [[String: Any]])?.isEmpty == true, "\(after.text)")
        }
    }

    /// A PDF of one page per text, written by hand: catalog, page tree, pages with a Helvetica text
    /// line each, and the cross-reference table with the objects' byte offsets.
    static func pdf(pages: [String]) -> Data {
        let font = 3 + 2 * pages.count
        var objects = ["<< /Type /Catalog /Pages 2 0 R >>",
                       "<< /Type /Pages /Kids [\(pages.indices.map { "\(3 + 2 * $0) 0 R" }.joined(separator: " "))] /Count \(pages.count) >>"]
        for (index, text) in pages.enumerated() {
            let stream = "BT /F1 12 Tf 72 720 Td (\(text)) Tj ET"
            objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 \(font) 0 R >> >> /Contents \(4 + 2 * index) 0 R >>")
            objects.append("<< /Length \(stream.utf8.count) >>\nstream\n\(stream)\nendstream")
        }
        objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        var out = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (index, object) in objects.enumerated() {
            offsets.append(out.utf8.count)
            out += "\(index + 1) 0 obj\n\(object)\nendobj\n"
        }
        let xref = out.utf8.count
        out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n" + offsets.map { String(format: "%010d 00000 n \n", $0) }.joined()
        out += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        return Data(out.utf8)
    }

    @Test("a PDF upload is read by pdftotext into chunks headed by their page; not a PDF is a field error; without pdftotext, 503")
    func pdfUpload() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let acme = try await client.createTenant(admin: system.adminToken, name: "acme")
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
            let base = "/api/v1/agents/\(agent.json["id"] as? String ?? "")/knowledge"
            let pdf = Self.pdf(pages: ["Delivery to Valencia takes 48 hours.", "Warranty: three years on every oven."]).base64EncodedString()
            let created = try await client.json(.POST, base, ["title": "Handbook", "format": "pdf", "content_base64": pdf, "source": "handbook.pdf"], token: acme.key)
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json["format"] as? String == "pdf")
            #expect(created.json["chunk_count"] as? Int == 2)
            #expect((created.json["content"] as? String)?.contains("Warranty: three years") == true, "\(created.text)")
            #expect(created.json["content_base64"] == nil)
            let search = try await client.request(.GET, "\(base)/search?q=how%20long%20is%20the%20warranty", token: acme.key)
            let first = (search.json["items"] as? [[String: Any]])?.first
            #expect(first?["heading"] as? String == "Page 2", "\(search.text)")
            #expect((first?["text"] as? String)?.contains("three years") == true)

            // A new version from another PDF; what is not a PDF is refused by field.
            let id = created.json["id"] as? String ?? ""
            let patched = try await client.json(.PATCH, "\(base)/\(id)", ["content_base64": Self.pdf(pages: ["Returns within 30 days."]).base64EncodedString()], token: acme.key)
            #expect(patched.json["version"] as? Int == 2, "\(patched.text)")
            #expect(patched.json["chunk_count"] as? Int == 1)
            let text = try await client.json(.POST, base, ["title": "X", "format": "pdf", "content_base64": Data("hello".utf8).base64EncodedString()], token: acme.key)
            #expect(text.status == 400)
            #expect((text.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "content_base64", "\(text.text)")
            let broken = try await client.json(.POST, base, ["title": "X", "content_base64": Data("%PDF-1.4 nothing else".utf8).base64EncodedString()], token: acme.key)
            #expect(broken.status == 400, "\(broken.text)")
            #expect((broken.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "content_base64")
        }

        let without = try await FullSystem.make(tune: { $0.pdftotext = "/nonexistent/pdftotext" })
        try await without.run { client in
            let acme = try await client.createTenant(admin: without.adminToken, name: "acme")
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
            let base = "/api/v1/agents/\(agent.json["id"] as? String ?? "")/knowledge"
            let refused = try await client.json(.POST, base, ["title": "Handbook", "content_base64": Self.pdf(pages: ["x"]).base64EncodedString()], token: acme.key)
            #expect(refused.status == 503, "\(refused.text)")
            #expect(refused.json["service"] as? String == "pdftotext")
            #expect((refused.json["detail"] as? String)?.contains("poppler-utils") == true)
        }
    }

    @Test("a document fetched from a URL through the egress gate: redirects followed, the title from the page, re-index fetches again; a bad page and a private address are field errors")
    func fetchedFromURL() async throws {
        let edition = Edition()
        try await withTestServer({ request, _ in
            switch request.uri.path {
            case "/moved": return Reply.json(302, "", contentType: "text/plain", headers: [("Location", "/faq")])
            case "/faq":
                let days = edition.value.withLock { $0 } == 1 ? "48 hours" : "24 hours"
                return Reply.json(200, "<html><head><title>Shop FAQ</title></head><body><h1>Delivery</h1><p>We deliver to Valencia in \(days).</p></body></html>",
                                  contentType: "text/html; charset=utf-8")
            case "/image": return Reply.json(200, "GIF89a", contentType: "image/gif")
            default: return Reply.json(404, "not here", contentType: "text/plain")
            }
        }) { port in
            let system = try await FullSystem.make()
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken, name: "acme")
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
                let base = "/api/v1/agents/\(agent.json["id"] as? String ?? "")/knowledge"
                let created = try await client.json(.POST, base, ["url": "http://127.0.0.1:\(port)/moved"], token: acme.key)
                #expect(created.status == 201, "\(created.text)")
                #expect(created.json["title"] as? String == "Shop FAQ")
                #expect(created.json["format"] as? String == "html")
                #expect(created.json["url"] as? String == "http://127.0.0.1:\(port)/moved")
                let search = try await client.request(.GET, "\(base)/search?q=deliver%20valencia", token: acme.key)
                let first = (search.json["items"] as? [[String: Any]])?.first
                #expect(first?["heading"] as? String == "Delivery", "\(search.text)")
                #expect((first?["text"] as? String)?.contains("48 hours") == true)

                edition.value.withLock { $0 = 2 }
                let id = created.json["id"] as? String ?? ""
                let reindexed = try await client.json(.POST, "\(base)/\(id)/reindex", [:], token: acme.key)
                #expect(reindexed.status == 200, "\(reindexed.text)")
                #expect(reindexed.json["version"] as? Int == 2)
                #expect((reindexed.json["content"] as? String)?.contains("24 hours") == true, "\(reindexed.text)")

                for (path, words) in [("/missing", "answered 404"), ("/image", "image/gif")] {
                    let refused = try await client.json(.POST, base, ["url": "http://127.0.0.1:\(port)\(path)"], token: acme.key)
                    #expect(refused.status == 400, "\(refused.text)")
                    let error = (refused.json["errors"] as? [[String: Any]])?.first
                    #expect(error?["field"] as? String == "url")
                    #expect((error?["message"] as? String)?.contains(words) == true, "\(refused.text)")
                }
                let both = try await client.json(.POST, base, ["url": "http://127.0.0.1:\(port)/faq", "content": "x", "title": "X"], token: acme.key)
                #expect(both.status == 400, "\(both.text)")
            }

            // Production's policy: loopback is a private address, refused before anything is sent.
            let strict = try await FullSystem.make(tuneSequences: { $0.egress = EgressPolicy() })
            try await strict.run { client in
                let acme = try await client.createTenant(admin: strict.adminToken, name: "acme")
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
                let refused = try await client.json(.POST, "/api/v1/agents/\(agent.json["id"] as? String ?? "")/knowledge",
                                                    ["url": "http://127.0.0.1:\(port)/faq"], token: acme.key)
                #expect(refused.status == 400, "\(refused.text)")
                let error = (refused.json["errors"] as? [[String: Any]])?.first
                #expect(error?["field"] as? String == "url")
                #expect((error?["message"] as? String)?.contains("private targets are not allowed") == true, "\(refused.text)")
            }
            #expect(edition.value.withLock { $0 } == 2)
        }
    }
}

/// Which text the test page serves, changed while the server runs.
private final class Edition: Sendable {
    let value = Mutex(1)
}
