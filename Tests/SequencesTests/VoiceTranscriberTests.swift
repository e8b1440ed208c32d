import Basics
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Sequences
import TestSupport
import Testing

/// The voice attachment is fetched through the egress gate with a size cap, then sent as a multipart file.
@Suite("VoiceTranscriber")
struct VoiceTranscriberTests {
    private func withTranscriber(maxAudioBytes: Int = 1 << 20,
                                 _ body: (OpenAIEmulator, VoiceTranscriber, _ files: Int) async throws -> Void) async throws {
        let llm = OpenAIEmulator()
        let audio = [UInt8](repeating: 0x55, count: 4_096)
        let files: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            guard request.uri.path == "/voice.ogg" else { return Reply.empty(404) }
            var headers = HTTPFields()
            headers[.contentType] = "audio/ogg"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: audio)))
        }
        try await withTestServer(files) { filesPort in
            try await withTestServer(llm.handle) { port in
                try await withHTTPClient { egress in
                    let transcriber = VoiceTranscriber(egress: egress, configuration: .init(
                        baseURL: "http://127.0.0.1:\(port)/", apiKey: llm.apiKey, maxAudioBytes: maxAudioBytes, retry: fastRetry,
                        requestTimeout: .seconds(5)))
                    try await body(llm, transcriber, filesPort)
                }
            }
        }
    }

    @Test("the file is fetched and sent as multipart; the transcript comes back trimmed")
    func transcribes() async throws {
        try await withTranscriber { llm, transcriber, files in
            llm.enqueueTranscripts("  Quero o plano anual.  ")
            let outcome = await transcriber.transcribe(link: "http://127.0.0.1:\(files)/voice.ogg", fileName: "voz (1).ogg",
                                                       language: "pt", logger: quietLogger)
            #expect(outcome == .transcript("Quero o plano anual."))
            #expect(llm.transcriptions == [.init(model: "whisper-1", fileName: "voz1.ogg", fileSize: 4_096,
                                                 fileContentType: "audio/ogg", language: "pt")])
            #expect(llm.violations.isEmpty, "\(llm.violations)")
        }
    }

    @Test("a file above the cap is refused and nothing is sent; a missing file fails")
    func capped() async throws {
        try await withTranscriber(maxAudioBytes: 1_000) { llm, transcriber, files in
            let large = await transcriber.transcribe(link: "http://127.0.0.1:\(files)/voice.ogg", fileName: "v.ogg", logger: quietLogger)
            #expect(large == .refused("the voice message is larger than 1000 bytes"))
            let missing = await transcriber.transcribe(link: "http://127.0.0.1:\(files)/gone.ogg", fileName: "v.ogg", logger: quietLogger)
            #expect(missing == .failed("could not fetch the voice message: HTTP 404"))
            #expect(llm.received.isEmpty)
        }
    }

    @Test("a link the egress gate refuses is not fetched")
    func refusedLink() async throws {
        let llm = OpenAIEmulator()
        try await withTestServer(llm.handle) { port in
            let transcriber = VoiceTranscriber(egress: EgressGate(policy: EgressPolicy()), configuration: .init(
                baseURL: "http://127.0.0.1:\(port)", apiKey: llm.apiKey, retry: fastRetry))
            let outcome = await transcriber.transcribe(link: "http://127.0.0.1:\(port)/voice.ogg", fileName: "v.ogg", logger: quietLogger)
            guard case .refused(let reason) = outcome else { Issue.record("\(outcome)"); return }
            #expect(reason.hasPrefix("the voice message's link is refused"), "\(reason)")
            #expect(llm.received.isEmpty)
        }
    }
}
