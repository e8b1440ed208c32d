import AsyncHTTPClient
import Basics
import Foundation
import Logging
import NIOHTTP1

/// Turns a client's voice message into text: the attachment is fetched from the link Kommo gave, through
/// the egress gate and no larger than ``Configuration/maxAudioBytes``, and sent as a multipart file to an
/// OpenAI-compatible `POST {base}/v1/audio/transcriptions`. 429, 5xx and timeouts are retried.
package struct VoiceTranscriber: Sendable {
    /// Where and how to call the endpoint.
    package struct Configuration: Sendable, Hashable, CustomStringConvertible, OutboundSettings {
        package var baseURL: String
        package var apiKey: String
        /// The transcription model (`whisper-1` unless the tenant names another).
        package var model: String
        /// Largest audio file fetched; a longer one is not transcribed.
        package var maxAudioBytes: Int
        package var retry: RetryPolicy
        package var requestTimeout: Duration
        package var maxResponseBytes: Int

        /// The model OpenAI's endpoint transcribes with.
        package static let defaultModel = "whisper-1"
        /// OpenAI's own limit for one file.
        package static let defaultMaxAudioBytes = 25 << 20

        package init(baseURL: String, apiKey: String, model: String = Configuration.defaultModel,
                     maxAudioBytes: Int = Configuration.defaultMaxAudioBytes, retry: RetryPolicy = RetryPolicy(maxAttempts: 3),
                     requestTimeout: Duration = .seconds(60), maxResponseBytes: Int = 1 << 20) {
            self.baseURL = OutboundHTTP.trimmingTrailingSlashes(baseURL)
            self.apiKey = apiKey
            self.model = model.isEmpty ? Self.defaultModel : model
            self.maxAudioBytes = maxAudioBytes
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
        }

        package var description: String { "VoiceTranscriber.Configuration(\(baseURL), model: \(model), key: <redacted>)" }
    }

    /// What came of one voice message.
    package enum Outcome: Sendable, Hashable {
        /// The text, trimmed (possibly empty: nothing was said).
        case transcript(String)
        /// Not transcribed, and trying again would not help (a file too large, a refused link, a bad key).
        case refused(String)
        /// Not transcribed this time (the endpoint or the link failed after retries).
        case failed(String)
    }

    private let configuration: Configuration
    private let gate: EgressGate

    package init(egress: EgressGate, configuration: Configuration) {
        self.gate = egress
        self.configuration = configuration
    }

    /// Transcribes the audio at `link` (named `fileName`), in `language` when known.
    package func transcribe(link: String, fileName: String, language: String? = nil, logger: Logger) async -> Outcome {
        // The audio: read one byte past the cap, so that a file of exactly the cap still passes.
        let download = OutboundHTTP(gate: gate, timeout: configuration.requestTimeout, retry: configuration.retry,
                                    maxResponseBytes: configuration.maxAudioBytes + 1)
        let fetched = await download.exchange(logger: logger, makeRequest: { OutboundRequest(method: .GET, url: link) },
                                              classify: WebhookSender.classify)
        if let refusal = fetched.refusal { return .refused("the voice message's link is refused: \(refusal)") }
        guard let audio = fetched.response, (200..<300).contains(audio.status) else {
            let why = fetched.response.map { "HTTP \($0.status)" } ?? fetched.transportError ?? "no answer"
            return .failed("could not fetch the voice message: \(why)")
        }
        guard !audio.truncated, audio.body.count <= configuration.maxAudioBytes else {
            return .refused("the voice message is larger than \(configuration.maxAudioBytes) bytes")
        }
        guard !audio.body.isEmpty else { return .refused("the voice message is empty") }

        let boundary = "kommo-agents-\(UUID().uuidString)"
        let name = Self.safeFileName(fileName)
        let contentType = audio.headers.first(name: "Content-Type").flatMap { $0.hasPrefix("audio/") ? $0 : nil } ?? "application/octet-stream"
        var body: [UInt8] = []
        func field(_ key: String, _ value: String) {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(key)\"\r\n\r\n\(value)\r\n".utf8)
        }
        field("model", configuration.model)
        field("response_format", "json")
        if let language, !language.isEmpty { field("language", language) }
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8)
        body += audio.body
        body += Array("\r\n--\(boundary)--\r\n".utf8)

        let url = configuration.baseURL + "/v1/audio/transcriptions"
        let key = configuration.apiKey
        let upload = OutboundHTTP(gate: gate, settings: configuration)
        let record = await upload.exchange(logger: logger, makeRequest: {
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(key)")
            headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
            return OutboundRequest(method: .POST, url: url, headers: headers, body: body)
        }, classify: WebhookSender.classify)
        if let refusal = record.refusal { return .refused("the transcription endpoint is refused: \(refusal)") }
        guard let response = record.response else { return .failed("the transcription endpoint did not answer: \(record.transportError ?? "no answer")") }
        guard (200..<300).contains(response.status) else {
            let message = response.json?["error"]?["message"]?.string ?? "HTTP \(response.status)"
            return response.status == 429 || response.status >= 500 ? .failed(message) : .refused(message)
        }
        guard let text = response.json?["text"]?.string else { return .failed("the transcription answer has no text") }
        return .transcript(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A file name safe inside a quoted multipart header, keeping its extension (the endpoint reads the
    /// format from it).
    static func safeFileName(_ name: String) -> String {
        let kept = name.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
        let text = String(String.UnicodeScalarView(kept.prefix(100)))
        return text.isEmpty ? "voice.ogg" : text
    }
}
