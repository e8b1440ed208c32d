import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1

/// Puts a message into a lead's chat, the two ways Kommo allows (KOMMO.md §3).
///
/// - ``Mode/salesbotField(_:)``: write the text into a lead custom field, then run a Salesbot whose message
///   step sends that field. Goes through ``KommoClient``, so it shares the account's rate limit.
/// - ``Mode/chatsAPI(_:)``: post a `new_message` to the tenant's own Chats API channel, signed with the
///   channel secret.
///
/// Like every executor it never throws: the ``ExecutionResult`` says what happened.
package struct ChatSender: Sendable {
    /// How a tenant's messages reach the chat.
    package enum Mode: Sendable, Hashable {
        /// Field + Salesbot.
        case salesbotField(SalesbotFieldChannel)
        /// Own Chats API channel.
        case chatsAPI(ChatsAPIChannel)
    }

    /// The field and the bot of the Field + Salesbot mode.
    package struct SalesbotFieldChannel: Sendable, Hashable {
        /// The lead custom field (text) the reply is written to.
        package var fieldID: Int64
        /// The Salesbot that sends the field to the lead's chat.
        package var botID: Int64

        /// Creates the channel settings.
        package init(fieldID: Int64, botID: Int64) {
            self.fieldID = fieldID
            self.botID = botID
        }
    }

    /// A Chats API channel registered with Kommo.
    package struct ChatsAPIChannel: Sendable, Hashable, CustomStringConvertible {
        /// The amojo host (`https://amojo.kommo.com` in production); configurable for tests and regions.
        package var baseURL: String
        /// The channel's `scope_id` (channel id and account id as Kommo issued it).
        package var scopeID: String
        /// The channel secret that signs requests.
        package var secret: String
        /// Who the message is from: the agent as known to the channel.
        package var sender: ChatParticipant

        /// Creates the channel settings.
        package init(baseURL: String = "https://amojo.kommo.com", scopeID: String, secret: String, sender: ChatParticipant) {
            self.baseURL = OutboundHTTP.trimmingTrailingSlashes(baseURL)
            self.scopeID = scopeID
            self.secret = secret
            self.sender = sender
        }

        /// Settings with the secret redacted.
        package var description: String { "ChatsAPIChannel(\(baseURL), scope: \(scopeID), secret: <redacted>)" }
    }

    /// A side of a Chats API conversation.
    package struct ChatParticipant: Sendable, Hashable, Encodable {
        /// Our id of the participant in the channel.
        package var id: String
        /// Display name.
        package var name: String?
        /// Phone number, when known.
        package var phone: String?
        /// E-mail address, when known.
        package var email: String?

        /// Creates a participant.
        package init(id: String, name: String? = nil, phone: String? = nil, email: String? = nil) {
            self.id = id
            self.name = name
            self.phone = phone
            self.email = email
        }
    }

    /// One message to send.
    package struct Message: Sendable, Hashable {
        /// The lead whose chat receives it.
        package var leadID: Int64
        /// The text, already rendered.
        package var text: String
        /// Our idempotency key; the Chats API `msgid`, so a retried post is the same message.
        package var idempotencyKey: String
        /// The Chats API conversation (required in that mode).
        package var conversationID: String?
        /// The Chats API receiver, the client (required in that mode).
        package var receiver: ChatParticipant?

        /// Creates a message.
        package init(leadID: Int64, text: String, idempotencyKey: String, conversationID: String? = nil,
                     receiver: ChatParticipant? = nil) {
            self.leadID = leadID
            self.text = text
            self.idempotencyKey = idempotencyKey
            self.conversationID = conversationID
            self.receiver = receiver
        }
    }

    /// Timeouts, retries and limits of Chats API calls (the Salesbot mode uses the ``KommoClient``'s).
    package struct Configuration: Sendable, Hashable, OutboundSettings {
        /// Retries of one post.
        package var retry: RetryPolicy
        /// Deadline of one attempt.
        package var requestTimeout: Duration
        /// Largest answer read.
        package var maxResponseBytes: Int

        /// Creates a configuration.
        package init(retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(15),
                     maxResponseBytes: Int = 64 * 1024) {
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
        }
    }

    private let kommo: KommoClient
    private let http: OutboundHTTP
    private let configuration: Configuration

    /// A sender using `kommo` for the Salesbot mode and `egress` for the Chats API.
    package init(kommo: KommoClient, egress: EgressGate, configuration: Configuration = Configuration()) {
        self.kommo = kommo
        self.configuration = configuration
        self.http = OutboundHTTP(gate: egress, settings: configuration)
    }

    /// Sends `message` the tenant's way.
    ///
    /// - Parameters:
    ///   - mode: the tenant's channel; `nil` when none is configured (the result is `skipped`).
    ///   - account: the tenant's Kommo account, needed by the Salesbot mode (`nil` gives `skipped`).
    package func send(_ message: Message, mode: Mode?, account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        switch mode {
        case nil:
            return .skipped("chat.send", reason: "no chat channel configured", requestSummary: summary(message))
        case .salesbotField(let channel):
            return await sendThroughSalesbot(message, channel: channel, account: account, logger: logger)
        case .chatsAPI(let channel):
            return await sendThroughChatsAPI(message, channel: channel, logger: logger)
        }
    }

    // MARK: - Field + Salesbot

    private func sendThroughSalesbot(_ message: Message, channel: SalesbotFieldChannel, account: KommoConnection?,
                                     logger: Logger) async -> ExecutionResult {
        let operation = "chat.salesbot_field"
        guard account != nil else {
            return .skipped(operation, reason: SkipReason.noKommoCredentials, requestSummary: summary(message))
        }
        let write = await kommo.setCustomFields(
            leadID: message.leadID, [KommoFieldUpdate(fieldID: channel.fieldID, text: message.text)],
            account: account, logger: logger)
        var steps = [write]
        // Running the bot without the new text in the field would send the previous message again.
        if write.outcome == .succeeded {
            steps.append(await kommo.runSalesbot(botID: channel.botID, leadID: message.leadID, account: account, logger: logger))
        }
        return Self.combine(operation: operation, summary: summary(message) + " via field \(channel.fieldID), bot \(channel.botID)",
                            steps: steps)
    }

    /// One result for a multi-step action: the last step's status and outcome, attempts and time summed.
    static func combine(operation: String, summary: String, steps: [ExecutionResult]) -> ExecutionResult {
        guard let last = steps.last else { return .skipped(operation, reason: "nothing to do", requestSummary: summary) }
        var result = last
        result.operation = operation
        result.requestSummary = summary
        result.attempts = steps.reduce(0) { $0 + $1.attempts }
        result.elapsed = steps.reduce(.zero) { $0 + $1.elapsed }
        result.createdIDs = steps.flatMap(\.createdIDs)
        result.steps = steps
        return result
    }

    // MARK: - Chats API

    private func sendThroughChatsAPI(_ message: Message, channel: ChatsAPIChannel, logger: Logger) async -> ExecutionResult {
        let operation = "chat.chats_api"
        let path = "/v2/origin/custom/\(channel.scopeID)"
        let url = channel.baseURL + path
        guard let conversationID = message.conversationID, let receiver = message.receiver else {
            return ExecutionResult(operation: operation, target: "POST \(path)", requestSummary: summary(message),
                                   outcome: .failedPermanent,
                                   detail: "the Chats API needs the lead's conversation id and receiver")
        }
        guard let signedPath = URLComponents(string: url)?.percentEncodedPath, !signedPath.isEmpty else {
            return ExecutionResult(operation: operation, target: "POST \(path)", requestSummary: summary(message),
                                   outcome: .failedPermanent, detail: "invalid Chats API base URL")
        }
        let now = Date()
        let body = ChatsAPIBody(payload: .init(
            timestamp: Int64(now.timeIntervalSince1970), msecTimestamp: Int64(now.timeIntervalSince1970 * 1000),
            msgid: message.idempotencyKey, conversationID: conversationID, sender: channel.sender, receiver: receiver,
            message: .init(text: message.text)))
        let bytes: [UInt8]
        do {
            bytes = try OutboundHTTP.jsonBody(body)
        } catch {
            // Nothing was sent; the run ends failed_permanent, which the executor metrics count.
            logger.error("chat.encode_failed", metadata: ["chat.operation": "\(operation)", "error": "\(error)"])
            return ExecutionResult(operation: operation, target: "POST \(path)", requestSummary: summary(message),
                                   outcome: .failedPermanent, detail: "could not encode the message: \(error)")
        }
        let contentType = "application/json"
        let md5 = ChatsAPISignature.contentMD5(bytes)
        let record = await http.exchange(
            logger: logger,
            makeRequest: {
                // Signed afresh for every attempt: Kommo rejects a stale Date.
                let date = ChatsAPISignature.rfc2822(Date())
                var headers = HTTPHeaders()
                headers.add(name: "Date", value: date)
                headers.add(name: "Content-Type", value: contentType)
                headers.add(name: "Content-MD5", value: md5)
                headers.add(name: "X-Signature", value: ChatsAPISignature.signature(
                    method: "POST", contentMD5: md5, contentType: contentType, date: date, path: signedPath,
                    secret: channel.secret))
                return OutboundRequest(method: .POST, url: url, headers: headers, body: bytes)
            },
            classify: KommoClient.classify)
        return KommoClient.result(operation: operation, target: "POST \(path)", summary: summary(message),
                                  record: record, kind: .write, limit: configuration.maxResponseBytes,
                                  service: "Kommo Chats API")
    }

    private func summary(_ message: Message) -> String {
        "message to lead \(message.leadID): \(KommoClient.excerpt(message.text))"
    }
}

// MARK: - Chats API body

struct ChatsAPIBody: Encodable {
    struct Payload: Encodable {
        struct Text: Encodable {
            var type = "text"
            var text: String
        }
        var timestamp: Int64
        var msecTimestamp: Int64
        var msgid: String
        var conversationID: String
        var sender: ChatSender.ChatParticipant
        var receiver: ChatSender.ChatParticipant
        var message: Text
        /// `false`: the message notifies the client like any other.
        var silent = false

        enum CodingKeys: String, CodingKey {
            case timestamp, msecTimestamp = "msec_timestamp", msgid, conversationID = "conversation_id"
            case sender, receiver, message, silent
        }
    }

    var eventType = "new_message"
    var payload: Payload

    enum CodingKeys: String, CodingKey {
        case eventType = "event_type", payload
    }
}
