import Domain
import Foundation

extension ScheduledAction {
    /// The action the row carries, decoded once at the edge of ``ActionExecution``: the one place the
    /// stored form of an action becomes the domain ``Action``. When the schedule carries a typed action
    /// instead of JSON text, this function is what changes.
    ///
    /// The JSON is decoded as the rules engine wrote it; the row's `action_type` stands in when the JSON
    /// names no `type` (rows written by callers that sent the type beside the JSON only).
    package func decodedAction() throws(RuleValidationError) -> Action {
        let json = Data(actionJSON.utf8)
        do {
            return try JSONDecoder().decode(Action.self, from: json)
        } catch DecodingError.keyNotFound(let key, let context)
                    where key.stringValue == Action.CodingKeys.type.rawValue && context.codingPath.isEmpty {
            guard let type = ActionType(rawValue: actionType) else {
                throw RuleValidationError(problems: [FieldProblem(field: "type", message: "is missing, and action_type \(actionType) is not an action type")])
            }
            // The raw values of action types are plain snake_case words: spliced in without escaping.
            var spliced = Data(#"{"type":"\#(type.rawValue)""#.utf8)
            let members = actionJSON.drop { $0 != "{" }.dropFirst()
            if members.contains(where: { !$0.isWhitespace && $0 != "}" }) { spliced.append(UInt8(ascii: ",")) }
            spliced.append(contentsOf: members.utf8)
            return try RuleJSON.decode(Action.self, from: spliced)
        } catch let error as DecodingError {
            throw RuleValidationError(problems: [RuleJSON.problem(for: error)])
        } catch {
            throw RuleValidationError(problems: [FieldProblem(field: "", message: "the action is not valid JSON")])
        }
    }
}
