import Testing
import Wire

@testable import Ingest

/// Who may put what into ingest: the identity comes from the caller's verified certificate.
@Suite("Intake by caller identity")
struct IntakeOriginTests {
    func timer() -> PB.IngestRequest {
        var event = PB.Event()
        event.type = .timerFired
        event.origin = .timer
        var request = PB.IngestRequest()
        request.events = [event]
        return request
    }

    @Test("only sequence-service may ingest timer_fired events")
    func timersOnlyFromTheScheduler() throws {
        try IngestServer.checkOrigin(timer(), caller: "sequence-service")
        for caller in ["gateway", "rules-service", "ingest-service", "stranger"] {
            #expect(throws: RPCError.self, "\(caller)") { try IngestServer.checkOrigin(timer(), caller: caller) }
        }
    }

    @Test("webhooks only through the gateway; a disguised timer (origin only) is caught too")
    func webhooksOnlyFromTheGateway() throws {
        var webhook = PB.IngestRequest()
        webhook.sourceSecret = "whsec"
        try IngestServer.checkOrigin(webhook, caller: "gateway")
        #expect(throws: RPCError.self) { try IngestServer.checkOrigin(webhook, caller: "sequence-service") }
        var disguised = timer()
        disguised.events[0].type = .stageChanged
        #expect(throws: RPCError.self) { try IngestServer.checkOrigin(disguised, caller: "gateway") }
    }
}
