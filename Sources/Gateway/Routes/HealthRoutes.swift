import Foundation
import Hummingbird
import Wire

/// One service's state as `/readyz` reports it.
package struct ServiceState: Codable, Sendable, Equatable {
    package var name: String
    /// `ready` or `unavailable`.
    package var state: String
    package var detail: String?
    package var uptimeSeconds: Int64?

    enum CodingKeys: String, CodingKey {
        case name, state, detail
        case uptimeSeconds = "uptime_seconds"
    }
}

/// The readiness report: every part of the system and its state.
package struct Readiness: Codable, Sendable, ResponseEncodable {
    package var status: String
    package var services: [ServiceState]
}

extension Peers {
    /// Asks every service for its health, concurrently, with a short deadline.
    package func readiness(timeout: Duration = .seconds(1)) async -> Readiness {
        let states = await withTaskGroup(of: (Int, ServiceState).self) { group in
            for (index, peer) in health.enumerated() {
                group.addTask {
                    do {
                        let answer = try await peer.client.check(PB.HealthCheckRequest(), options: CallOptions(timeout: timeout))
                        let ready = answer.status == .serving
                        return (index, ServiceState(name: peer.name, state: ready ? "ready" : "unavailable",
                                                    detail: ready ? nil : answer.detail, uptimeSeconds: answer.uptimeSeconds))
                    } catch {
                        return (index, ServiceState(name: peer.name, state: "unavailable", detail: "\(error)"))
                    }
                }
            }
            var states: [(Int, ServiceState)] = []
            for await state in group { states.append(state) }
            return states.sorted { $0.0 < $1.0 }.map(\.1)
        }
        let gateway = ServiceState(name: "gateway", state: "ready")
        let allReady = states.allSatisfy { $0.state == "ready" }
        return Readiness(status: allReady ? "ready" : "unavailable", services: [gateway] + states)
    }
}

extension GatewayApp {
    static func addHealthRoutes(to router: Router<GatewayContext>, peers: Peers) {
        router.get("/healthz") { _, _ in
            ["status": "alive"]
        }
        router.get("/readyz") { _, _ -> Response in
            let readiness = await peers.readiness()
            let body = try JSONEncoder.api.encode(readiness)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: readiness.status == "ready" ? .ok : .serviceUnavailable, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}

extension JSONEncoder {
    /// The API's JSON style: snake_case keys as declared, sorted for stable output, RFC 3339 dates.
    package static let api: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}
