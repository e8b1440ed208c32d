import Foundation
import Gateway
import NIOCore
import TestSupport
import Testing

/// The system's browser libraries the admin UI loads from /admin/vendor/: only the listed files, read
/// through Debian's symbolic links, and nothing when the packages are not installed.
@Suite("Vendor assets")
struct VendorAssetsTests {
    @Test("the listed files are read (through symbolic links), others are not; a missing folder gives none")
    func listedFilesOnly() throws {
        let folder = temporaryFolder("vendor")
        let manager = FileManager.default
        try manager.createDirectory(atPath: folder + "/chart.js", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: folder + "/codemirror/lib", withIntermediateDirectories: true)
        try Data("window.Chart = {};".utf8).write(to: URL(fileURLWithPath: folder + "/chart.js/chart.real.js"))
        try manager.createSymbolicLink(atPath: folder + "/chart.js/chart.min.js", withDestinationPath: "chart.real.js")
        try Data("secret".utf8).write(to: URL(fileURLWithPath: folder + "/chart.js/other.js"))
        try Data(".CodeMirror {}".utf8).write(to: URL(fileURLWithPath: folder + "/codemirror/lib/codemirror.css"))

        let found = VendorAssets.load(folder: folder)
        let names = found.keys.sorted()
        #expect(names == ["vendor/chart.js/chart.min.js", "vendor/codemirror/codemirror.css"])
        let chart = try #require(found["vendor/chart.js/chart.min.js"])
        #expect(String(buffer: chart.body) == "window.Chart = {};")
        #expect(chart.contentType == "text/javascript; charset=utf-8")
        #expect(found["vendor/codemirror/codemirror.css"]?.contentType == "text/css; charset=utf-8")

        #expect(VendorAssets.load(folder: folder + "/absent").isEmpty)
    }
}
