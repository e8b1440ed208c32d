import Foundation

/// The `Echo` service: answers with its payload after an optional delay. Used by the RPC tests and
/// `make bench-rpc`, and served by nothing in production.
package struct EchoServer: EchoHandler {
    package let id: UInt64

    package init(id: UInt64 = 0) { self.id = id }

    package func echo(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse {
        try await answer(request)
    }

    package func echoOnce(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse {
        try await answer(request)
    }

    private func answer(_ request: PB.EchoRequest) async throws -> PB.EchoResponse {
        if request.delayMicros > 0 {
            try await Task.sleep(for: .microseconds(request.delayMicros))
        }
        if request.failWithCode != 0 {
            throw RPCError(StatusCode(rawValue: request.failWithCode) ?? .unknown, "failed on request")
        }
        var response = PB.EchoResponse()
        response.payload = request.payload
        response.servedBy = id
        return response
    }
}
