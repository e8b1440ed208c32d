import Basics
import Domain
import Foundation
import Wire

/// Uploaded PDF documents of a knowledge base become text here, at the edge, before rules-service sees
/// them: a knowledge write with `content_base64` (format `pdf`) has it replaced by the text poppler-utils'
/// `pdftotext -layout` reads from it, pages ended by form feeds (the chunker heads each page "Page N").
///
/// `pdftotext` runs as a child process on a temporary copy of the file, with a time cap (``timeout``;
/// it is killed past it), a page cap (``maximumPages``) and a cap on the text it may write (``maximumTextBytes``,
/// checked on the file it wrote). The gateway does it rather than rules-service because the PDF arrives
/// here and only its text is kept: stores, versions and the wire carry text, as for every other format.
package struct PDFText: Sendable {
    /// The program: a path, or a name looked up on `PATH`.
    package var program: String
    package var timeout: Duration = .seconds(20)
    static let maximumPages = 500
    /// Four bytes per character at most: the document's own bound is checked by rules-service in characters.
    static let maximumTextBytes = Limits.knowledgeDocumentLength * 4

    package init(program: String = "pdftotext") { self.program = program }

    /// `write` with its `content_base64` read into `content`; unchanged without one.
    package func extracting(_ write: PB.DocumentWrite) async throws -> PB.DocumentWrite {
        guard case .object(var members)? = JSONValue(parsing: write.json), let encoded = members["content_base64"] else { return write }
        guard let text = encoded.string, let pdf = Data(base64Encoded: text, options: .ignoreUnknownCharacters), !pdf.isEmpty else {
            throw Problem.field("content_base64", "must be a PDF file in base64")
        }
        if let format = members["format"], format.string != "pdf" {
            throw Problem.field("format", "must be pdf with content_base64")
        }
        if members["content"] != nil { throw Problem.field("content", "must be absent with content_base64") }
        guard pdf.starts(with: Data("%PDF-".utf8)) else { throw Problem.field("content_base64", "is not a PDF file (it does not start with %PDF-)") }
        members["content"] = .string(try await self.text(of: pdf))
        members["content_base64"] = nil
        members["format"] = .string("pdf")
        var next = write
        next.json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
        return next
    }

    /// The text of `pdf`, pages ended by form feeds.
    func text(of pdf: Data) async throws -> String {
        guard let executable = resolvedProgram() else {
            throw Problem(status: .serviceUnavailable,
                          detail: "PDF documents cannot be read here: \(program) (Debian's poppler-utils) is not installed; upload the text instead",
                          service: "pdftotext")
        }
        let folder = NSTemporaryDirectory() + "pdf-\(RandomID.make("", hexDigits: 16))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let input = folder + "/in.pdf", output = folder + "/out.txt"
        try pdf.write(to: URL(fileURLWithPath: input))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-layout", "-enc", "UTF-8", "-l", "\(Self.maximumPages)", input, output]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                process.terminate()
                process.waitUntilExit()
                throw Problem.field("content_base64", "took longer than \(timeout) to read")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard process.terminationStatus == 0 else {
            throw Problem.field("content_base64", "could not be read as a PDF (pdftotext exit status \(process.terminationStatus))")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        guard size <= Self.maximumTextBytes else {
            throw Problem.field("content_base64", "holds more than \(Limits.knowledgeDocumentLength) characters of text")
        }
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: output)), as: UTF8.self)
        guard !TextFold.isBlank(text.replacingOccurrences(of: "\u{0C}", with: "")) else {
            throw Problem.field("content_base64", "has no text (a scanned PDF needs OCR first)")
        }
        return text
    }

    /// The program's path: itself when it names one, else the first executable of that name on `PATH`.
    func resolvedProgram() -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
