import CWire
import Foundation
import Logging
import TestSupport
import Testing
@testable import Wire

/// The generator's proto3 features, through protobuf-c, on `proto/conformance.proto`.
@Suite("Generated wire code")
struct ConformanceTests {
    /// A message using every feature once.
    static var full: PB.Conformance {
        var message = PB.Conformance()
        message.id = "c1"
        message.status = .triggerMismatch
        message.history = [.pending, .done, .unrecognized(42)]
        var inner = PB.Conformance.Inner()
        inner.label = "outer"
        inner.level = .high
        var child = PB.Conformance.Inner()
        child.label = "child"
        child.level = .low
        inner.children = [child]
        message.inner = inner
        message.counts = ["b": 2, "a": -1, "c": 1 << 40]
        var nested = PB.ConformanceNested()
        nested.name = "n"
        nested.tags = ["x", "y"]
        nested.blob = [0, 1, 255]
        nested.level = .high
        message.nestedByName = ["first": nested, "empty": PB.ConformanceNested()]
        message.statusById = [5: .done, -3: .pending, 9: .unrecognized(99)]
        message.default = "d"
        message.type = "t"
        message.protocol = 3
        message.inners = [child, inner]
        message.kind = .nested(nested)
        return message
    }

    // MARK: - protobuf-c round trips

    @Test("every feature survives encode and decode through protobuf-c")
    func roundTrip() throws {
        let message = Self.full
        let decoded = try PB.Conformance(serializedBytes: try message.serializedBytes())
        #expect(decoded == message)
        #expect(decoded.inner?.children.first?.level == .low)
        #expect(decoded.nestedByName["first"]?.blob == [0, 1, 255])
        #expect(decoded.nestedByName["empty"] == PB.ConformanceNested())
        #expect(decoded.statusById[-3] == .pending)
        #expect(decoded.counts["c"] == 1 << 40)
        #expect(decoded.default == "d" && decoded.type == "t" && decoded.protocol == 3)
    }

    @Test("each oneof member survives a round trip, and none set stays none", arguments: [
        PB.Conformance.Kind?.none,
        .number(-7),
        .text("héllo"),
        .nested(PB.ConformanceNested()),
        .child({ var child = PB.Conformance(); child.id = "inside"; child.kind = .number(1); return child }()),
    ])
    func oneofMembers(kind: PB.Conformance.Kind?) throws {
        var message = PB.Conformance()
        message.kind = kind
        #expect(try PB.Conformance(serializedBytes: try message.serializedBytes()).kind == kind)
    }

    @Test("a number this build does not know survives decode and encode")
    func unknownEnumNumber() throws {
        // status = 42, history = [99] (packed), from a newer peer
        let bytes: [UInt8] = [0x10, 0x2A, 0x1A, 0x01, 0x63]
        let decoded = try PB.Conformance(serializedBytes: bytes)
        #expect(decoded.status == .unrecognized(42))
        #expect(decoded.status.rawValue == 42)
        #expect(decoded.history == [.unrecognized(99)])
        #expect(try decoded.serializedBytes() == bytes)
        #expect(PB.ConformanceStatus(rawValue: 7) == .done)
        #expect(PB.ConformanceStatus.unrecognized(7) == .done)
        #expect(PB.ConformanceStatus.allCases == [.unspecified, .pending, .triggerMismatch, .done])
    }

    @Test("bytes written by hand from the protobuf wire format decode, and encode back to the same bytes")
    func handWrittenBytes() throws {
        let hex = [
            "0a026331",          // 1 id = "c1"
            "1007",              // 2 status = 7 (done)
            "1a020102",          // 3 history = [1, 2], packed
            "2205" + "0a0178" + "1002", // 4 inner = {label "x", level 2}
            "2a05" + "0a0161" + "1003", // 5 counts entry {"a": 3}
            "3205" + "0a0171" + "1200", // 6 nested_by_name entry {"q": {}}
            "3a04" + "0805" + "1063",   // 7 status_by_id entry {5: 99}
            "420164",            // 8 default = "d"
            "4a0174",            // 9 type = "t"
            "5001",              // 10 protocol = 1
            "60ac02",            // 12 number = 300
        ].joined()
        let bytes = try #require(decodeHex(hex))
        let decoded = try PB.Conformance(serializedBytes: bytes)
        var expected = PB.Conformance()
        expected.id = "c1"
        expected.status = .done
        expected.history = [.pending, .triggerMismatch]
        var inner = PB.Conformance.Inner()
        inner.label = "x"
        inner.level = .high
        expected.inner = inner
        expected.counts = ["a": 3]
        expected.nestedByName = ["q": PB.ConformanceNested()]
        expected.statusById = [5: .unrecognized(99)]
        expected.default = "d"
        expected.type = "t"
        expected.protocol = 1
        expected.kind = .number(300)
        #expect(decoded == expected)
        #expect(try expected.serializedBytes() == bytes)
    }

    @Test("map entries are encoded in key order, so equal maps give equal bytes")
    func mapOrder() throws {
        var one = PB.Conformance()
        var other = PB.Conformance()
        for key in ["m", "a", "z", "b"] { one.counts[key] = 1 }
        for key in ["z", "b", "m", "a"] { other.counts[key] = 1 }
        let bytes = try one.serializedBytes()
        #expect(bytes == (try other.serializedBytes()))
        // entries are `2a 05 0a 01 <key> 10 01`; the keys appear in order
        let keys = stride(from: 4, to: bytes.count, by: 7).map { Character(UnicodeScalar(bytes[$0])) }
        #expect(String(keys) == "abmz")
    }

    // MARK: - JSON

    @Test("JSON: enums by name without prefix, unknown numbers as numbers, oneof under the member's name, maps as objects")
    func jsonShape() throws {
        var message = PB.Conformance()
        message.status = .triggerMismatch
        message.history = [.pending, .unrecognized(42)]
        message.counts = ["a": 1]
        message.statusById = [5: .done]
        message.kind = .nested({ var n = PB.ConformanceNested(); n.name = "n"; n.level = .low; return n }())
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(message)) as? [String: Any])
        #expect(object["status"] as? String == "trigger_mismatch")
        let history = try #require(object["history"] as? [Any])
        #expect(history.count == 2 && history[0] as? String == "pending" && history[1] as? Int == 42)
        #expect(object["counts"] as? [String: Int] == ["a": 1])
        #expect(object["status_by_id"] as? [String: String] == ["5": "done"])
        let nested = try #require(object["nested"] as? [String: Any])
        #expect(nested["name"] as? String == "n")
        #expect(nested["level"] as? String == "low")
        #expect(object["number"] == nil && object["text"] == nil && object["child"] == nil)
        #expect(object["default"] as? String == "")
        #expect(try JSONDecoder().decode(PB.Conformance.self, from: JSONEncoder().encode(message)) == message)
        #expect(PB.ConformanceStatus.triggerMismatch.name == "trigger_mismatch")
        #expect(PB.ConformanceStatus(name: "pending") == .pending)
    }

    @Test("JSON: a number decodes as an enum value; an unknown name and two oneof members are refused")
    func jsonDecoding() throws {
        let decoded = try JSONDecoder().decode(PB.Conformance.self, from: Data(#"{"status": 7, "text": "hi", "status_by_id": {"-2": "pending"}}"#.utf8))
        #expect(decoded.status == .done)
        #expect(decoded.kind == .text("hi"))
        #expect(decoded.statusById == [-2: .pending])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(PB.Conformance.self, from: Data(#"{"status": "later"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(PB.Conformance.self, from: Data(#"{"text": "hi", "number": 1}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(PB.Conformance.self, from: Data(#"{"status_by_id": {"five": "done"}}"#.utf8))
        }
    }

    // MARK: - NUL bytes

    @Test("a string with a NUL byte is refused, naming the message and the field", arguments: [
        ({ var m = PB.Conformance(); m.id = "a\u{0}b"; return m }(), "id"),
        ({ var m = PB.Conformance(); m.kind = .text("\u{0}"); return m }(), "text"),
        ({ var m = PB.Conformance(); m.kind = .nested({ var n = PB.ConformanceNested(); n.tags = ["ok", "x\u{0}"]; return n }()); return m }(), "nested.tags[1]"),
        ({ var m = PB.Conformance(); var i = PB.Conformance.Inner(); i.label = "\u{0}"; m.inners = [PB.Conformance.Inner(), i]; return m }(), "inners[1].label"),
        ({ var m = PB.Conformance(); var n = PB.ConformanceNested(); n.name = "\u{0}"; m.nestedByName = ["k": n]; return m }(), #"nested_by_name["k"].name"#),
        ({ var m = PB.Conformance(); m.counts = ["a\u{0}": 1]; return m }(), #"counts["a\0"].key"#),
    ])
    func nulRefused(message: PB.Conformance, field: String) {
        #expect(throws: WireEncodingError(type: "agents.v1.Conformance", field: field)) { try message.serializedBytes() }
    }

    // MARK: - Field numbers

    @Test("FieldNumber constants are the descriptor's numbers")
    func fieldNumbers() {
        let descriptor = agents__v1__conformance__descriptor
        var numbers: [String: Int32] = [:]
        for index in 0..<Int(descriptor.n_fields) {
            let field = descriptor.fields[index]
            numbers[String(cString: field.name)] = Int32(field.id)
        }
        typealias N = PB.Conformance.FieldNumber
        let constants: [String: Int32] = [
            "id": N.id, "status": N.status, "history": N.history, "inner": N.inner, "counts": N.counts,
            "nested_by_name": N.nestedByName, "status_by_id": N.statusById, "default": N.default, "type": N.type,
            "protocol": N.protocol, "nested": N.nested, "number": N.number, "text": N.text, "child": N.child,
            "inners": N.inners,
        ]
        #expect(constants == numbers)
        #expect(PB.ConformanceNested.FieldNumber.level == 4)
        #expect(PB.Conformance.Inner.FieldNumber.children == 3)
    }
}

/// What a caller and a server see when a string cannot travel.
@Suite("NUL bytes over RPC")
struct NULOverRPCTests {
    /// Answers a secret with a NUL byte in it, which cannot be encoded.
    struct BrokenSecrets: PartialIngestHandler {
        func getWebhookSource(_ request: PB.TenantRequest, context: RPCContext) async throws -> PB.WebhookSource {
            var source = PB.WebhookSource()
            source.secret = "whsec\u{0}cut"
            return source
        }
    }

    let options = CallOptions(timeout: .seconds(30), tenantID: "tn_acme")

    @Test("the client refuses a request with a NUL byte as INVALID_ARGUMENT before sending; the server answers an unencodable response with INTERNAL")
    func nulOverRPC() async throws {
        try await withServer(routes: BrokenSecrets().routes, security: TestPKI.security("ingest-service")) { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: quietLogger)
            defer { connection.close() }
            let client = IngestClient(connection: connection)
            var request = PB.TenantRequest()
            request.tenantId = "tn\u{0}other"
            do throws(RPCError) {
                _ = try await client.getWebhookSource(request, options: options)
                Issue.record("a request holding a NUL byte was sent")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.violations.map(\.field) == ["tenant_id"])
            }
            var badMetadata = options
            badMetadata.tenantID = "tn\u{0}"
            do throws(RPCError) {
                _ = try await client.getWebhookSource(PB.TenantRequest(), options: badMetadata)
                Issue.record("metadata holding a NUL byte was sent")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message == "metadata.tenant_id contains a NUL byte")
            }
            #expect(server.stats.snapshot.isEmpty)

            do throws(RPCError) {
                _ = try await client.getWebhookSource(PB.TenantRequest(), options: options)
                Issue.record("an unencodable response arrived")
            } catch {
                #expect(error.code == .internal)
                #expect(!error.message.contains("whsec"))
            }
        }
    }
}

private func decodeHex(_ hex: String) -> [UInt8]? {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
        out.append(byte)
        index = next
    }
    return out
}
