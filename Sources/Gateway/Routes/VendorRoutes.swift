import Basics
import Crypto
import Foundation
import NIOCore

/// The browser libraries the admin UI draws with, served from the system's JavaScript folder as Debian
/// packages install them (`libjs-chart.js`, `libjs-codemirror` under `/usr/share/javascript`), never
/// copied into the repository. Only the files named here are read, once at startup, and served from
/// memory under `/admin/vendor/…` with the admin UI's headers and CSP. A package that is not installed
/// leaves its files out: the page that wants them says what to install.
package enum VendorAssets {
    /// Served name (after `/admin/vendor/`) → path under the system's JavaScript folder.
    static let files: [String: String] = [
        "chart.js/chart.min.js": "chart.js/chart.min.js",
        "codemirror/codemirror.js": "codemirror/lib/codemirror.js",
        "codemirror/codemirror.css": "codemirror/lib/codemirror.css",
        "codemirror/javascript.js": "codemirror/mode/javascript/javascript.js",
        "codemirror/matchbrackets.js": "codemirror/addon/edit/matchbrackets.js",
        "codemirror/closebrackets.js": "codemirror/addon/edit/closebrackets.js",
    ]

    /// The folder Debian installs browser libraries into; `ADMIN_VENDOR_DIR` names another.
    static var folder: String { ProcessInfo.processInfo.environment["ADMIN_VENDOR_DIR"] ?? "/usr/share/javascript" }

    /// The files found, as assets keyed by their served name (`vendor/chart.js/chart.min.js`).
    package static func load(folder: String = VendorAssets.folder) -> [String: AdminAssets.Asset] {
        var found: [String: AdminAssets.Asset] = [:]
        for (name, relative) in files {
            let path = (folder as NSString).appendingPathComponent(relative)
            // Debian's files are symbolic links at times (Chart.js → chart.js): resolved, then read.
            let real = (path as NSString).resolvingSymlinksInPath
            guard let data = FileManager.default.contents(atPath: real), data.count <= 8 << 20 else { continue }
            let type = name.hasSuffix(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"
            found["vendor/" + name] = AdminAssets.Asset(body: ByteBuffer(bytes: data), contentType: type,
                                                        etag: "\"\(SHA256.hex(of: data).prefix(32))\"")
        }
        return found
    }
}
