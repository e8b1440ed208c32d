import ArgumentParser
import CAllocCount
import Domain
import Foundation
import ServiceKit
import Wire

// MARK: - Codec

/// Encode and decode of the messages every event and action crosses the wire in: the Swift value through
/// the Wire module's mapping to protobuf-c and back. Allocations are counted by the bench's own
/// allocator shim (`CAllocCount`: every malloc, calloc, realloc and aligned allocation of the thread).
struct CodecBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "codec", abstract: "Wire encode/decode: ns and allocations per message.")

    @Option(help: "Messages encoded and decoded per case.") var iterations = 200_000
    @Flag(help: "20,000 per case.") var quick = false

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let iterations = quick ? min(self.iterations, 20_000) : self.iterations
        var rows: [[String]] = []
        for (name, message) in Self.cases() {
            let bytes = try message.encode()
            let encode = try Self.time(iterations) { _ = try message.encode() }
            let decode = try Self.time(iterations) { try message.decode(bytes) }
            report.add("\(name), encode", "ns/message", encode.nanos)
            report.add("\(name), encode allocations", "allocations/message", encode.allocations)
            report.add("\(name), decode", "ns/message", decode.nanos)
            report.add("\(name), decode allocations", "allocations/message", decode.allocations)
            rows.append([name, "\(bytes.count)", String(format: "%.0f", encode.nanos), String(format: "%.1f", encode.allocations),
                         String(format: "%.0f", decode.nanos), String(format: "%.1f", decode.allocations)])
        }
        report.table("Wire codec, Swift value ↔ protobuf-c bytes, \(iterations.formatted()) of each (\(machine()))",
                     ["message", "bytes", "encode ns", "encode allocs", "decode ns", "decode allocs"], rows)
        return report
    }

    /// One message kind: encodes its value, decodes its bytes back to a Swift value.
    struct Case {
        var encode: () throws -> [UInt8]
        var decode: ([UInt8]) throws -> Void
    }

    static func codec<M: WireMessage>(_ message: M) -> Case {
        Case(encode: { try message.serializedBytes() }, decode: { _ = try M(serializedBytes: $0) })
    }

    /// The messages of the journey: the event as ingest sends it to `Evaluate` and `OnEvent`, and a
    /// decision's action as it goes to `Schedule`.
    static func cases() -> [(String, Case)] {
        var event = PB.Event()
        event.id = "ev_" + String(repeating: "5c1f0a9e", count: 4)
        event.tenantId = "tn_4f1c2a9e7d03b6c1"
        event.accountId = 29012345
        event.type = .stageChanged
        event.entityType = "lead"
        event.entityId = "10000021"
        event.leadId = 10000021
        event.pipelineId = 7100001
        event.statusId = 61234502
        event.oldStatusId = 61234501
        event.responsibleUserId = 504141
        event.origin = .kommo
        event.occurredAtMicros = 1_764_072_950_000_000
        event.receivedAtMicros = 1_764_072_950_120_000
        event.deliveryId = "dlv_" + String(repeating: "a1b2c3", count: 4)
        var price = PB.KeyValue()
        price.key = "price"
        price.value = "3100"
        event.fields = [price]
        var budget = PB.CustomField()
        budget.id = "550011"
        budget.name = "Budget"
        budget.values = ["2500-5000"]
        event.customFields = [budget]
        var evaluate = PB.EvaluateRequest()
        evaluate.event = event

        var planned = PB.PlannedAction()
        planned.idempotencyKey = event.id + ":rule_4f1c2a9e:0"
        planned.ruleId = "rule_4f1c2a9e"
        planned.agentId = "agent_7d03b6c1"
        planned.leadId = event.leadId
        planned.eventId = event.id
        planned.ruleName = "Qualified: call back"
        planned.action = PB.Action(Action(type: .createTask, text: "Call {{lead.name}} back", dueInSeconds: 3600))
        var schedule = PB.ScheduleRequest()
        schedule.eventId = event.id
        schedule.actions = [planned]
        return [("Event (stage change)", codec(event)), ("EvaluateRequest", codec(evaluate)), ("ScheduleRequest, one create_task", codec(schedule))]
    }

    struct Timing {
        var nanos: Double
        var allocations: Double
    }

    /// Runs `body` `iterations` times on this thread, with no suspension, so the thread's allocation
    /// count covers exactly these runs.
    static func time(_ iterations: Int, _ body: () throws -> Void) rethrows -> Timing {
        for _ in 0..<min(1000, iterations) { try body() }
        let allocationsBefore = alloc_count_thread()
        let started = ContinuousClock.now
        for _ in 0..<iterations { try body() }
        let elapsed = ContinuousClock.now - started
        let allocations = alloc_count_thread() - allocationsBefore
        return Timing(nanos: Double(elapsed.components.seconds) * 1e9 / Double(iterations) + Double(elapsed.components.attoseconds) / 1e9 / Double(iterations),
                      allocations: Double(allocations) / Double(iterations))
    }
}
