import Basics
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The files of the admin UI (`Sources/Gateway/Admin`: HTML, CSS and ES modules, no build step), read
/// once at startup from the target's resource bundle and served from memory.
///
/// The folder ships as a SwiftPM resource (`.copy("Admin")`): `swift build` puts it in
/// `kommo-agents_Gateway.resources` next to the binaries, where `Bundle.module` finds it, and the
/// Dockerfile copies that folder next to the gateway. Serving from a table of known files, rather
/// than from the file system per request, makes path traversal impossible by construction.
package struct AdminAssets: Sendable {
    package struct Asset: Sendable {
        package var body: ByteBuffer
        package var contentType: String
        /// A strong ETag (from the SHA-256 of the body), so a browser revalidates cheaply.
        package var etag: String
    }

    /// Relative path (`index.html`, `js/app.js`) → file.
    package var files: [String: Asset]

    /// Content types of what the UI may contain; other files in the folder are not served.
    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "json": "application/json",
        "svg": "image/svg+xml",
        "png": "image/png",
        "ico": "image/x-icon",
        "txt": "text/plain; charset=utf-8",
    ]

    /// The UI bundled with the gateway.
    package static func bundled() throws -> AdminAssets {
        guard let folder = Bundle.module.url(forResource: "Admin", withExtension: nil) else {
            throw AdminAssetsError(message: "the admin UI folder is missing from the gateway's resource bundle")
        }
        return try load(folder: folder)
    }

    /// Reads every regular file under `folder` with a known extension. Symbolic links are skipped.
    package static func load(folder: URL) throws -> AdminAssets {
        let root = folder.standardizedFileURL.resolvingSymlinksInPath()
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else {
            throw AdminAssetsError(message: "cannot read the admin UI folder \(root.path)")
        }
        var files: [String: Asset] = [:]
        for case let url as URL in walker {
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            guard values.isRegularFile == true, values.isSymbolicLink != true,
                  let type = contentTypes[url.pathExtension.lowercased()] else { continue }
            let relative = String(url.standardizedFileURL.resolvingSymlinksInPath().path.dropFirst(root.path.count + 1))
            let data = try Data(contentsOf: url)
            let digest = SHA256.hex(of: data)
            files[relative] = Asset(body: ByteBuffer(bytes: data), contentType: type, etag: "\"\(digest.prefix(32))\"")
        }
        guard files["index.html"] != nil else { throw AdminAssetsError(message: "the admin UI has no index.html") }
        return AdminAssets(files: files)
    }

    /// The asset a request path names, or nil. `components` are the raw (percent-encoded) segments
    /// after `/admin/`; anything that could step out of the folder is refused before the lookup.
    package func asset(components: [Substring]) throws -> Asset? {
        var parts: [String] = []
        for raw in components {
            guard let part = raw.removingPercentEncoding, !part.isEmpty, part != ".", part != "..",
                  !part.hasPrefix("."), !part.contains("/"), !part.contains("\\"), !part.contains("\0") else {
                throw Problem(status: .badRequest, detail: "invalid path")
            }
            parts.append(part)
        }
        return files[parts.isEmpty ? "index.html" : parts.joined(separator: "/")]
    }
}

extension AdminAssets {
    /// The answer for a request of the file `components` names.
    func response(_ request: Request, components: [Substring]) throws -> Response {
    guard let asset = try asset(components: components) else {
            throw Problem(status: .notFound, detail: "no such file")
        }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "no-cache"
        headers[.eTag] = asset.etag
        headers[.contentSecurityPolicy] = GatewayApp.adminContentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "no-referrer"
        headers[.crossOriginOpenerPolicy] = "same-origin"
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            $0.trimmingCharacters(in: .whitespaces) == asset.etag
        }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(asset.body.readableBytes)
        if request.method == .head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.body))
    }
}

package struct AdminAssetsError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let crossOriginOpenerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!
}

extension GatewayApp {
    /// Only this origin's scripts, styles and API; no inline code, no frames, no plugins. The UI sets
    /// no inline `style` attributes and builds every element with DOM calls, so nothing needs relaxing.
    package static let adminContentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
        "font-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    /// `GET` (and `HEAD`) `/admin/…`: the static admin UI. No authentication: the files hold no data; the UI asks for a
    /// key and every data call goes to the REST API with it. Files are not fingerprinted (there is no
    /// build step), so every answer says `no-cache` and carries an ETag: the browser revalidates and gets
    /// 304 until the gateway ships a new file.
    static func addAdminRoutes(to router: Router<GatewayContext>) throws {
        var bundled = try AdminAssets.bundled()
        // Chart.js and CodeMirror from the system's packages, under /admin/vendor/ (see VendorAssets).
        bundled.files.merge(VendorAssets.load()) { own, _ in own }
        let assets = bundled
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/admin", method: method) { request, _ -> Response in
                // Relative links in the page need the trailing slash.
                guard request.uri.path.hasSuffix("/") else {
                    return Response(status: .permanentRedirect, headers: [.location: "/admin/"])
                }
                return try assets.response(request, components: [])
            }
            router.on("/admin/**", method: method) { request, context -> Response in
                try assets.response(request, components: context.parameters.getCatchAll())
            }
        }
    }
}
