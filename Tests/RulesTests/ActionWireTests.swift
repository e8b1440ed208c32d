import Domain
import Foundation
import ServiceKit
import Testing
import Wire

/// Every action type survives Domain `Action` → `PB.Action` → bytes (protobuf-c) → `PB.Action` → Domain
/// `Action` with every field it uses, Kommo ids beyond 2^53 exact.
@Suite struct ActionWireTests {
    static let big: Int64 = 9_007_199_254_740_993

    static let actions: [Action] = [
        Action(type: .sendMessage, text: "Hi {{contact.first_name|there}}"),
        Action(type: .sendMessage, scriptID: "script-1"),
        Action(type: .aiResponse),
        Action(type: .aiResponse, scriptID: "script-2", instructions: "Offer a call"),
        Action(type: .createTask, text: "Call {{lead.name}}", dueInSeconds: 3600, taskType: 2, responsibleUserID: big),
        Action(type: .createTask, text: "Now", dueInSeconds: 0),
        Action(type: .addNote, text: "Moved by the agent"),
        Action(type: .changeStage, stageID: big, pipelineID: big - 1),
        Action(type: .changeStage, stageID: 142),
        Action(type: .setField, field: "cf.Budget", value: "5000"),
        Action(type: .setField, field: "name", value: ""),
        Action(type: .addTags, tags: ["hot", "vip"]),
        Action(type: .removeTags, tags: ["cold"]),
        Action(type: .webhook, url: "https://example.com/hook", payloadTemplate: #"{"lead": "{{lead.id}}"}"#),
        Action(type: .webhook, url: "http://example.com/plain"),
        Action(type: .startSequence, sequenceID: "seq-1"),
        Action(type: .stopSequence, sequenceID: "seq-1"),
        Action(type: .stopSequence),
    ] + KommoOperation.allCases.map {
        Action(type: .kommoAction, operation: $0, parameters: ["status_id": String(big), "cf.7001": "Ann", "text": "é ✓"])
    }

    @Test("each action round-trips through the wire unchanged", arguments: actions)
    func roundTrip(_ action: Action) throws {
        let message = PB.Action(action)
        let decoded = try PB.Action(serializedBytes: try message.serializedBytes())
        #expect(decoded == message)
        #expect(decoded.actionType == action.type)
        #expect(try Action(decoded) == action)
    }

    @Test func everyActionTypeIsCovered() {
        #expect(Set(Self.actions.map(\.type)) == Set(ActionType.allCases))
        #expect(Set(Self.actions.compactMap(\.operation)) == Set(KommoOperation.allCases))
    }

    @Test func aPlannedActionCarriesItsTypedAction() throws {
        var planned = PB.PlannedAction()
        planned.idempotencyKey = "ev-1:rule-1:0"
        planned.action = PB.Action(Action(type: .changeStage, stageID: Self.big))
        let decoded = try PB.PlannedAction(serializedBytes: try planned.serializedBytes())
        guard case .changeStage(let stage)? = decoded.action?.kind else {
            Issue.record("no change_stage in \(decoded)")
            return
        }
        #expect(stage.stageId == Self.big)
    }

    @Test func anActionWithoutATypeOrWithAnUnknownOperationIsRefused() {
        #expect(throws: RPCError.self) { try Action(PB.Action()) }
        var kommo = PB.Action.KommoAction()
        kommo.operation = .unrecognized(99)
        var message = PB.Action()
        message.kind = .kommoAction(kommo)
        #expect(throws: RPCError.self) { try Action(message) }
    }
}
