import Basics
import Foundation
import Logging
import ServiceKit
import Wire

extension SequenceServer {
    /// Transcribes a voice message with the tenant's OpenAI-compatible provider (``VoiceTranscriber``).
    /// What cannot be transcribed — no such provider, a file too large, a refused link — answers
    /// `skipped` with the reason, so the event goes on without a transcript; a failure worth retrying is
    /// UNAVAILABLE.
    package func transcribeVoice(_ request: PB.VoiceTranscriptionRequest, context: RPCContext) async throws -> PB.VoiceTranscription {
        let tenantID = try context.requireTenant()
        guard !request.link.isEmpty else { throw RPCError.invalid(field: "link", "is required") }
        var answer = PB.VoiceTranscription()
        guard let egress else {
            answer.skipped = "this process transcribes nothing"
            return answer
        }
        let runtime = try await integrations.runtime(tenantID: tenantID)
        guard case .openAI(let baseURL, let apiKey, _) = runtime.ai else {
            answer.skipped = "voice is transcribed only with an OpenAI-compatible AI provider"
            return answer
        }
        var logger = context.logger
        logger[metadataKey: "event.id"] = "\(request.eventId)"
        let transcriber = VoiceTranscriber(egress: egress, configuration: .init(
            baseURL: baseURL, apiKey: apiKey))
        switch await transcriber.transcribe(link: request.link, fileName: request.fileName, logger: logger) {
        case .transcript(let text):
            answer.text = text
        case .refused(let reason):
            logger.notice("voice.not_transcribed", metadata: ["reason": "\(reason)"])
            answer.skipped = reason
        case .failed(let reason):
            throw RPCError(.unavailable, reason)
        }
        return answer
    }
}
