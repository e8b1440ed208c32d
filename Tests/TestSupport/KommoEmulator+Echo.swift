import AsyncHTTPClient
import Basics
import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

/// Kommo's echo of our writes: every lead stage change the emulator accepts (`PATCH /api/v4/leads/{id}`
/// or `PATCH /api/v4/leads` with an array) comes back to the webhook URL it is pointed at as the
/// `leads[status]` webhook Kommo sends — form-encoded, in the shape of `Tests/Fixtures/kommo/`, with the
/// `account[...]` block and `modified_user_id` of the API user — a moment after the answer, as Kommo's
/// webhooks follow the write that caused them.
///
/// It is a service: run it for the length of a test (`withServices([kommo.echo]) { … }`); echoes are
/// sent one at a time, in the order of the writes.
package final class KommoEcho: Service, Sendable {
    /// The user the API token belongs to: Kommo names it as `modified_user_id` on the echo of a write.
    package static let apiUserID: Int64 = 8_812_099
    /// A manager of the account, for changes made by hand in Kommo.
    package static let managerID: Int64 = 8_812_001
    package static let accountID: Int64 = 29_012_345
    package static let subdomain = "acmesales"

    /// A lead as the echo describes it.
    package struct Lead: Sendable, Hashable {
        package var id: Int64
        package var name: String
        package var pipelineID: Int64
        package var statusID: Int64
        /// Unix seconds; every change moves it on by at least one second, as two changes of a lead are
        /// two webhooks with different `updated_at` in Kommo.
        package var updatedAt: Int64

        package init(id: Int64, name: String, pipelineID: Int64, statusID: Int64, updatedAt: Int64 = Int64(Date().timeIntervalSince1970)) {
            self.id = id; self.name = name; self.pipelineID = pipelineID; self.statusID = statusID; self.updatedAt = updatedAt
        }
    }

    /// One echo sent.
    package struct Sent: Sendable {
        package var leadID: Int64
        package var statusID: Int64
        package var body: String
        /// The gateway's answer status (0 when it could not be reached).
        package var status: Int
    }

    private struct State {
        var target: String?
        var leads: [Int64: Lead] = [:]
        var sent: [Sent] = []
    }

    private let state = Mutex(State())
    private let delay: Duration
    private let outbox: AsyncStream<(lead: Int64, status: Int64, body: String)>
    private let continuation: AsyncStream<(lead: Int64, status: Int64, body: String)>.Continuation

    /// `delay`: how long after a write its echo leaves.
    package init(delay: Duration = .milliseconds(200)) {
        self.delay = delay
        (outbox, continuation) = AsyncStream.makeStream()
    }

    // MARK: - Test controls

    /// Echoes go to this webhook URL (`http://127.0.0.1:<port>/webhooks/kommo/<secret>`); until it is set,
    /// writes are not echoed.
    package func point(at url: String) {
        state.withLock { $0.target = url }
    }

    /// The lead as Kommo holds it now; echoes of its writes start from here.
    package func track(_ lead: Lead) {
        state.withLock { $0.leads[lead.id] = lead }
    }

    /// The lead now.
    package func lead(_ id: Int64) -> Lead? { state.withLock { $0.leads[id] } }

    /// A manager moves the lead by hand in Kommo: the lead changes and the answer is the body of the
    /// `leads[status]` webhook Kommo sends for it (the test posts it, as Kommo would).
    package func managerMoves(lead id: Int64, to status: Int64) -> Data {
        Data(state.withLock { state in Self.move(&state, lead: id, to: status, pipeline: nil, by: Self.managerID) }.utf8)
    }

    /// Echoes sent so far, in order.
    package var sent: [Sent] { state.withLock { $0.sent } }

    // MARK: - Hook of the emulator

    /// Called by ``KommoEmulator`` for every request it answered normally: a lead write that changed the
    /// stage is queued to be echoed.
    func answered(_ request: ReceivedRequest, status: Int) {
        guard request.method == "PATCH", (200..<300).contains(status) else { return }
        let segments = request.path.split(separator: "/").map(String.init)
        guard segments.count >= 3, segments[0] == "api", segments[1] == "v4", segments[2] == "leads" else { return }
        var changes: [(lead: Int64, status: Int64, pipeline: Int64?)] = []
        if segments.count == 4, let lead = Int64(segments[3]), let status = request.json?["status_id"]?.int64 {
            changes.append((lead, status, request.json?["pipeline_id"]?.int64))
        } else if segments.count == 3 {
            for item in request.json?.array ?? [] {
                guard let lead = item["id"]?.int64, let status = item["status_id"]?.int64 else { continue }
                changes.append((lead, status, item["pipeline_id"]?.int64))
            }
        }
        for change in changes {
            let body: String? = state.withLock { state in
                guard state.target != nil else { return nil }
                return Self.move(&state, lead: change.lead, to: change.status, pipeline: change.pipeline, by: Self.apiUserID)
            }
            if let body { continuation.yield((change.lead, change.status, body)) }
        }
    }

    // MARK: - Sending

    package func run() async throws {
        for await echo in outbox.cancelOnGracefulShutdown() {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return  // shutting down: what is still queued is not sent
            }
            guard let target = state.withLock({ $0.target }) else { continue }
            var request = HTTPClientRequest(url: target)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "User-Agent", value: "amoCRM-WebHook-client/1.0")
            request.body = .bytes(ByteBuffer(string: echo.body))
            var status = 0
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                status = Int(response.status.code)
                _ = try await response.body.collect(upTo: 1 << 20)
            } catch {
                // Recorded as status 0: a test reading `sent` sees the echo did not arrive.
            }
            state.withLock { $0.sent.append(Sent(leadID: echo.lead, statusID: echo.status, body: echo.body, status: status)) }
        }
    }

    // MARK: - The webhook

    /// Moves the lead and answers the `leads[status]` body that reports the move.
    private static func move(_ state: inout State, lead id: Int64, to status: Int64, pipeline: Int64?, by user: Int64) -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var lead = state.leads[id] ?? Lead(id: id, name: "Lead \(id)", pipelineID: pipeline ?? 0, statusID: 0, updatedAt: now - 1)
        let old = lead.statusID
        lead.statusID = status
        if let pipeline { lead.pipelineID = pipeline }
        lead.updatedAt = max(now, lead.updatedAt + 1)
        state.leads[id] = lead
        return statusWebhook(lead, oldStatusID: old, modifiedBy: user)
    }

    /// `leads[status][0][…]` and the `account[…]` block, percent-encoded as Kommo sends them.
    package static func statusWebhook(_ lead: Lead, oldStatusID: Int64, modifiedBy user: Int64) -> String {
        let item = "leads[status][0]"
        var pairs: [(String, String)] = [
            ("\(item)[id]", String(lead.id)),
            ("\(item)[name]", lead.name),
            ("\(item)[status_id]", String(lead.statusID)),
            ("\(item)[old_status_id]", String(oldStatusID)),
            ("\(item)[price]", "2500"),
            ("\(item)[responsible_user_id]", String(managerID)),
            ("\(item)[last_modified]", String(lead.updatedAt)),
            ("\(item)[modified_user_id]", String(user)),
            ("\(item)[created_user_id]", "0"),
            ("\(item)[date_create]", String(lead.updatedAt - 3600)),
        ]
        if lead.pipelineID != 0 { pairs.append(("\(item)[pipeline_id]", String(lead.pipelineID))) }
        pairs += [
            ("\(item)[account_id]", String(accountID)),
            ("\(item)[created_at]", String(lead.updatedAt - 3600)),
            ("\(item)[updated_at]", String(lead.updatedAt)),
            ("account[subdomain]", subdomain),
            ("account[id]", String(accountID)),
            ("account[_links][self]", "https://\(subdomain).kommo.com"),
        ]
        return pairs.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
    }

    /// `application/x-www-form-urlencoded` as PHP writes it: letters, digits and `-._~` stay, a space is
    /// `+`, every other byte is `%XX`.
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            case UInt8(ascii: " "):
                out.append("+")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
