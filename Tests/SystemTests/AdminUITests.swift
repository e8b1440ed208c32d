import TestSupport
import Foundation
import NIOHTTP1
import Testing

/// The admin UI as a browser gets it from the gateway: the page, every file it loads, the security
/// headers on each, refusals of paths that are not its files, and only routes the API really has.
@Suite("Admin UI", .serialized)
struct AdminUITests {
    /// Every file the UI loads, found the way a browser finds them: index.html's `href`/`src`, then the
    /// ES modules' imports, recursively. Path → answer.
    static func crawl(_ client: HTTPTestClient) async throws -> [String: HTTPTestClient.Answer] {
        var answers: [String: HTTPTestClient.Answer] = [:]
        var queue = ["/admin/"]
        while let path = queue.popLast() {
            if answers[path] != nil { continue }
            let answer = try await client.request(.GET, path)
            answers[path] = answer
            let base = URL(string: "http://ui" + path)!
            let references: [String]
            if path.hasSuffix("/") || path.hasSuffix(".html") {
                references = matches(of: ##"(?:href|src)="([^"#][^"]*)""##, in: answer.text)
            } else if path.hasSuffix(".js") {
                references = matches(of: #"\b(?:from|import)\s+"(\.{0,2}/[^"]+)""#, in: answer.text)
            } else {
                references = []
            }
            for reference in references where !reference.hasPrefix("data:") {
                let resolved = try #require(URL(string: reference, relativeTo: base)?.absoluteURL)
                #expect(resolved.host == "ui", "\(path) loads \(reference) from another origin")
                queue.append(resolved.path)
            }
        }
        return answers
    }

    static func matches(of pattern: String, in text: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    @Test("/admin/ and every file it loads come with the right content type, CSP and cache headers")
    func servesPageAndAssets() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            // `/admin` redirects to `/admin/` (relative links need the slash); the client follows it.
            let bare = try await client.request(.GET, "/admin")
            #expect(bare.status == 200 && bare.text.contains("js/app.js"))

            let head = try await client.request(.HEAD, "/admin/app.css")
            #expect(head.status == 200 && head.body.isEmpty && head.headers.first(name: "Content-Type")?.hasPrefix("text/css") == true)

            let files = try await Self.crawl(client)
            let expectedTypes = ["html": "text/html", "css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"]
            #expect(files.keys.contains("/admin/app.css"))
            #expect(files.keys.contains("/admin/js/app.js"))
            #expect(files.keys.contains("/admin/js/pages/rules.js"), "the modules are found through the imports")
            for (path, answer) in files {
                #expect(answer.status == 200, "\(path): \(answer.status)")
                let ext = path.hasSuffix("/") ? "html" : String(path.split(separator: ".").last ?? "")
                let type = answer.headers.first(name: "Content-Type") ?? ""
                #expect(type.hasPrefix(try #require(expectedTypes[ext], "\(path): unexpected kind of file")), "\(path): \(type)")
                let csp = answer.headers.first(name: "Content-Security-Policy") ?? ""
                for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
                    #expect(csp.contains(directive), "\(path): CSP \(csp)")
                }
                #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"))
                #expect(answer.headers.first(name: "X-Content-Type-Options") == "nosniff")
                #expect(answer.headers.first(name: "Cache-Control") == "no-cache", "\(path)")
                // A browser revalidating an unchanged file gets 304.
                let etag = try #require(answer.headers.first(name: "ETag"), "\(path)")
                let again = try await client.request(.GET, path, headers: [("If-None-Match", etag)])
                #expect(again.status == 304, "\(path)")
                #expect(again.body.isEmpty)
            }

            // Every name a module imports is exported by the module it names: a typo would stop the page
            // from loading at all, in the browser only.
            for (path, answer) in files where path.hasSuffix(".js") {
                let regex = try NSRegularExpression(pattern: #"import\s*\{([^}]*)\}\s*from\s*"([^"]+)""#)
                let text = answer.text
                for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let names = String(text[Range(match.range(at: 1), in: text)!])
                    let source = String(text[Range(match.range(at: 2), in: text)!])
                    let target = try #require(URL(string: source, relativeTo: URL(string: "http://ui" + path)!)?.path)
                    let exported = try #require(files[target], "\(path) imports \(source), which the crawl did not load").text
                    for name in names.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").first.map(String.init) ?? "" }) where !name.isEmpty {
                        let declared = ["export function \(name)(", "export async function \(name)(", "export const \(name) ", "export class \(name) "]
                        #expect(declared.contains { exported.contains($0) }, "\(path) imports \(name) from \(target), which does not export it")
                    }
                }
            }

            // What the CSP forbids is not in the files either: no inline script or style, and data never
            // becomes markup.
            let page = try #require(files["/admin/"]).text
            #expect(!page.contains("<script>") && !page.contains("style=") && !page.contains("<style"))
            for (path, answer) in files where path.hasSuffix(".js") {
                for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                    #expect(!answer.text.contains(forbidden), "\(path) uses \(forbidden)")
                }
            }
        }
    }

    @Test("an unknown file is 404, and paths that could leave the UI's folder are refused")
    func unknownAndTraversal() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            for path in ["/admin/nope.js", "/admin/js/nope/deeper.css", "/admin/index.htm"] {
                let answer = try await client.request(.GET, path)
                #expect(answer.status == 404, "\(path): \(answer.status)")
                #expect(answer.headers.first(name: "Content-Type") == "application/problem+json")
            }
            let attempts = [
                "/admin/../Package.swift", "/admin/js/../../README.md",
                "/admin/%2e%2e/%2e%2e/Package.swift", "/admin/%2E%2E/Package.swift",
                "/admin/..%2f..%2fPackage.swift", "/admin/js/..%2findex.html", "/admin/js%5c..%5cindex.html",
                "/admin/.%2e/Package.swift", "/admin/%2fetc%2fpasswd", "/admin/.hidden",
            ]
            for path in attempts {
                let answer = try await client.request(.GET, path)
                #expect(answer.status == 400, "\(path): \(answer.status) \(answer.text.prefix(80))")
                #expect(!answer.text.contains("swift-tools-version") && !answer.text.contains("<html"), "\(path)")
            }
        }
    }

    @Test("every /api/v1 route the UI calls exists in the gateway")
    func uiCallsOnlyExistingRoutes() async throws {
        let system = try await FullSystem.make(tune: { $0.authFailureLimit = 100_000 })  // it probes every route without a token
        try await system.run { client in
            let files = try await Self.crawl(client)
            let scripts = files.filter { $0.key.hasSuffix(".js") }.map(\.value.text)
            // The UI names every route as api.<method>(url`/api/v1/…`); nothing may bypass that form.
            var calls = Set<String>()
            for text in scripts {
                let found = Self.matches(of: #"api\.((?:get|post|patch|delete)\(url`/api/v1/[^`]*)`"#, in: text)
                #expect(found.count == text.components(separatedBy: "/api/v1/").count - 1,
                        "every /api/v1 path in the UI goes through api.<method>(url`…`)")
                for call in found {
                    let method = call.prefix { $0 != "(" }.uppercased()
                    let template = String(call.drop { $0 != "`" }.dropFirst())
                    calls.insert("\(method) \(template)")
                }
            }
            #expect(calls.count >= 30, "\(calls.count) calls found: the extraction is broken")

            // 1. The live router: without credentials an existing route answers 401 (authentication runs
            //    before anything else), while a path or method it does not have answers 404 or 405.
            func probe(_ method: String, _ template: String) async throws -> Int {
                let path = template.replacingOccurrences(of: #"\$\{[^}]*\}"#, with: "x1", options: .regularExpression)
                return try await client.request(HTTPMethod(rawValue: method), path, body: method == "GET" || method == "DELETE" ? nil : Data("{}".utf8)).status
            }
            #expect(try await probe("GET", "/api/v1/agents/${id}/nothing-here") != 401, "the probe tells missing routes apart")
            #expect(try await probe("PUT", "/api/v1/agents/${id}") != 401, "the probe tells missing methods apart")
            // The API document is the one route open to all: it answers without credentials.
            let open: Set<String> = ["GET /api/v1/openapi.json"]
            for call in calls.sorted() {
                let parts = call.split(separator: " ", maxSplits: 1).map(String.init)
                let expected = open.contains(call) ? 200 : 401
                #expect(try await probe(parts[0], parts[1]) == expected, "the UI calls \(call), which the gateway does not route")
            }

            // 2. The OpenAPI document: each call is a documented operation.
            let document = try await client.request(.GET, "/api/v1/openapi.json")
            #expect(document.status == 200)
            if let paths = document.json["paths"] as? [String: Any] {
                func shape(_ template: String) -> String {
                    template.replacingOccurrences(of: #"\$\{[^}]*\}|\{[^}]*\}"#, with: "{}", options: .regularExpression)
                }
                var documented: [String: Set<String>] = [:]
                for (path, item) in paths {
                    let methods = Set(((item as? [String: Any]) ?? [:]).keys.map { $0.uppercased() })
                    for prefix in ["", "/api/v1"] { documented[shape(prefix + path), default: []].formUnion(methods) }
                }
                for call in calls.sorted() {
                    let parts = call.split(separator: " ", maxSplits: 1).map(String.init)
                    #expect(documented[shape(parts[1])]?.contains(parts[0]) == true, "\(call) is not in openapi.json")
                }
            }
        }
    }
}
