import Basics
import Domain
import Sequences
import ServiceKit
import Testing

/// Every call the model makes is checked before it becomes an action: what a model may write is not what
/// the schema it was offered allows.
@Suite("AIToolPolicy")
struct AIToolPolicyTests {
    let policy = AIToolPolicy(tools: [.updateLeadFields, .moveToStage, .createTask, .addTags, .handOff],
                              fieldIDs: [512_301], stageIDs: [61_234_502, 61_234_999])
    let catalog = KommoCatalogIndex(catalog: [
        "pipelines": [["id": 7_010_001, "name": "Sales", "stages": [["id": 61_234_501, "name": "New"], ["id": 61_234_502, "name": "Qualified"]]]],
        "custom_fields": ["leads": [["id": 512_301, "name": "Budget"]]],
    ])

    func decide(_ name: String, _ arguments: String, catalog: KommoCatalogIndex? = nil) -> AIToolPolicy.Decision {
        policy.decide(AIToolCall(id: "c", name: name, arguments: arguments), catalog: catalog, responsibleUserID: 8_812_001)
    }

    @Test("allowed calls become the actions a rule would plan")
    func actions() {
        #expect(decide("update_lead_fields", #"{"fields":[{"field_id":512301,"value":"5000"}]}"#)
                == .action(Action(type: .kommoAction, operation: .updateLead, parameters: ["cf.512301": "5000"])))
        #expect(decide("move_to_stage", #"{"stage_id":61234502}"#, catalog: catalog)
                == .action(Action(type: .changeStage, stageID: 61_234_502, pipelineID: 7_010_001)))
        #expect(decide("create_task", #"{"text":"Call back at 5pm","due_in_seconds":3600}"#)
                == .action(Action(type: .createTask, text: "Call back at 5pm", dueInSeconds: 3600)))
        #expect(decide("add_tags", #"{"tags":[" vip ","valencia"]}"#) == .action(Action(type: .addTags, tags: ["vip", "valencia"])))
        #expect(decide("hand_off", #"{"reason":"wants a person"}"#)
                == .handOff(Action(type: .createTask, text: "The AI agent handed the conversation over: wants a person", dueInSeconds: 0,
                                   responsibleUserID: 8_812_001), reason: "wants a person"))
    }

    @Test("calls outside the policy, the catalog or the schema are refused with the reason")
    func refusals() {
        func reason(_ decision: AIToolPolicy.Decision) -> String? {
            if case .refused(let reason) = decision { reason } else { nil }
        }
        #expect(reason(decide("delete_lead", "{}")) == "delete_lead is not a tool")
        #expect(reason(AIToolPolicy(tools: [.addTags]).decide(AIToolCall(id: "c", name: "hand_off", arguments: #"{"reason":"x"}"#), catalog: nil))
                == "hand_off is not in the agent's ai_actions.tools")
        #expect(reason(decide("add_tags", "tags: vip")) == "the arguments are not a JSON object")
        #expect(reason(decide("update_lead_fields", #"{"fields":[{"field_id":512302,"value":"x"}]}"#))
                == "field 512302 is not in the agent's ai_actions.field_ids")
        #expect(reason(decide("update_lead_fields", #"{"fields":[{"field_id":"512301","value":"x"}]}"#))
                == "each field needs an integer field_id and a value")
        #expect(reason(decide("update_lead_fields", #"{"fields":[{"field_id":512301,"value":"{{lead.price}}"}]}"#))?.contains("plain text") == true)
        #expect(reason(decide("move_to_stage", #"{"stage_id":61234501}"#)) == "stage 61234501 is not in the agent's ai_actions.stage_ids")
        #expect(reason(decide("move_to_stage", #"{"stage_id":61234999}"#, catalog: catalog)) == "stage 61234999 is not in the Kommo account")
        #expect(reason(decide("create_task", #"{"text":"x","due_in_seconds":-5}"#))?.contains("due_in_seconds") == true)
        #expect(reason(decide("create_task", #"{"text":"   "}"#))?.contains("text must be plain text") == true)
        #expect(reason(decide("add_tags", #"{"tags":[]}"#))?.contains("tags must be") == true)
        #expect(reason(decide("hand_off", "{}"))?.contains("reason must be") == true)
    }

    @Test("only the policy's tools are offered, with the allowed ids and their names")
    func schemas() {
        let schemas = AIToolPolicy(tools: [.updateLeadFields, .moveToStage], fieldIDs: [512_301], stageIDs: [61_234_502]).schemas(catalog: catalog)
        #expect(schemas.compactMap { $0["function"]?["name"]?.string } == ["update_lead_fields", "move_to_stage"])
        #expect(schemas[0]["function"]?["description"]?.string?.contains("512301 (Budget)") == true)
        #expect(schemas[1]["function"]?["parameters"]?["properties"]?["stage_id"]?["enum"] == [61_234_502])
        #expect(schemas[1]["function"]?["description"]?.string?.contains("Sales › Qualified") == true)
        #expect(AIToolPolicy().schemas(catalog: nil).isEmpty)
    }
}
