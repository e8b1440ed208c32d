import Basics
import Foundation
import Logging
import NIOHTTP1

// MARK: - Tasks

extension KommoClient {
    /// Creates a task on a lead: `POST /api/v4/tasks` with a one-element array.
    ///
    /// `idempotencyKey` travels as Kommo's `request_id` (Kommo echoes it, it does not deduplicate by it; the
    /// scheduler's own idempotency is what prevents a second task). The created id is in
    /// ``ExecutionResult/createdIDs``.
    package func createTask(_ task: KommoTaskDraft, idempotencyKey: String, account: KommoConnection?,
                            logger: Logger) async -> ExecutionResult {
        let body = [TaskBody(
            text: task.text, completeTill: task.completeTill, entityID: task.leadID,
            entityType: task.leadID == nil ? nil : "leads", taskTypeID: task.taskTypeID,
            responsibleUserID: task.responsibleUserID, requestID: idempotencyKey)]
        let summary = "task on lead \(task.leadID.map(String.init) ?? "-") due \(task.completeTill), "
            + "type \(task.taskTypeID.map(String.init) ?? "default"): \(Self.excerpt(task.text))"
        var (result, response) = await call(
            operation: "kommo.create_task", account: account, method: .POST, path: "/api/v4/tasks",
            body: body, summary: summary, kind: .write, logger: logger)
        if result.outcome == .succeeded, let json = response?.json {
            result.createdIDs = (json["_embedded"]?["tasks"]?.array ?? []).compactMap { $0["id"]?.int64 }
        }
        return result
    }

    /// Marks a task done with an optional result text: `PATCH /api/v4/tasks/{id}`.
    package func completeTask(id: Int64, resultText: String?, account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        let body = CompleteTaskBody(result: resultText.map { CompleteTaskBody.Result(text: $0) })
        return await call(
            operation: "kommo.complete_task", account: account, method: .PATCH, path: "/api/v4/tasks/\(id)",
            body: body, summary: "complete task \(id)\(resultText.map { ": \(Self.excerpt($0))" } ?? "")",
            kind: .write, logger: logger).0
    }
}

// MARK: - Notes

extension KommoClient {
    /// Adds a note to a lead: `POST /api/v4/leads/{id}/notes` with a one-element array.
    package func addNote(leadID: Int64, text: String, kind: KommoNoteKind = .common, account: KommoConnection?,
                         logger: Logger) async -> ExecutionResult {
        let note: NoteBody = switch kind {
        case .common: NoteBody(noteType: "common", params: .init(text: text))
        case .serviceMessage(let service): NoteBody(noteType: "service_message", params: .init(text: text, service: service))
        }
        var (result, response) = await call(
            operation: "kommo.add_note", account: account, method: .POST, path: "/api/v4/leads/\(leadID)/notes",
            body: [note], summary: "\(note.noteType) note: \(Self.excerpt(text))", kind: .write, logger: logger)
        if result.outcome == .succeeded, let json = response?.json {
            result.createdIDs = (json["_embedded"]?["notes"]?.array ?? []).compactMap { $0["id"]?.int64 }
        }
        return result
    }
}

// MARK: - Lead changes

extension KommoClient {
    /// Moves a lead to a stage, and to a pipeline when given: `PATCH /api/v4/leads/{id}`.
    package func changeStage(leadID: Int64, statusID: Int64, pipelineID: Int64? = nil, account: KommoConnection?,
                             logger: Logger) async -> ExecutionResult {
        let body = LeadPatchBody(statusID: statusID, pipelineID: pipelineID)
        let summary = "status \(statusID)\(pipelineID.map { " in pipeline \($0)" } ?? "")"
        return await patchLead(operation: "kommo.change_stage", leadID: leadID, body: body, summary: summary,
                               account: account, logger: logger)
    }

    /// Sets lead custom fields: `PATCH /api/v4/leads/{id}` with `custom_fields_values`.
    package func setCustomFields(leadID: Int64, _ fields: [KommoFieldUpdate], account: KommoConnection?,
                                 logger: Logger) async -> ExecutionResult {
        let body = LeadPatchBody(customFieldsValues: fields)
        let summary = "fields " + fields.map { "\($0.fieldID)" }.joined(separator: ", ")
        return await patchLead(operation: "kommo.set_fields", leadID: leadID, body: body, summary: summary,
                               account: account, logger: logger)
    }

    /// Adds tags by name: `PATCH /api/v4/leads/{id}` with `tags_to_add`.
    package func addTags(leadID: Int64, _ tags: [String], account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        let body = LeadPatchBody(tagsToAdd: tags.map(TagName.init))
        return await patchLead(operation: "kommo.add_tags", leadID: leadID, body: body,
                               summary: "add tags " + tags.joined(separator: ", "), account: account, logger: logger)
    }

    /// Removes tags by name: `PATCH /api/v4/leads/{id}` with `tags_to_delete`.
    package func removeTags(leadID: Int64, _ tags: [String], account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        let body = LeadPatchBody(tagsToDelete: tags.map(TagName.init))
        return await patchLead(operation: "kommo.remove_tags", leadID: leadID, body: body,
                               summary: "remove tags " + tags.joined(separator: ", "), account: account, logger: logger)
    }

    /// Changes a lead's name, price, stage, pipeline, responsible user and custom fields in one
    /// `PATCH /api/v4/leads/{id}`.
    package func updateLead(leadID: Int64, _ changes: KommoLeadChanges, account: KommoConnection?,
                            logger: Logger) async -> ExecutionResult {
        let body = LeadPatchBody(name: changes.name, price: changes.price, responsibleUserID: changes.responsibleUserID,
                                 statusID: changes.statusID, pipelineID: changes.pipelineID,
                                 customFieldsValues: changes.customFields.isEmpty ? nil : changes.customFields)
        var parts: [String] = []
        if let name = changes.name { parts.append("name \(Self.excerpt(name))") }
        if let price = changes.price { parts.append("price \(price)") }
        if let status = changes.statusID { parts.append("status \(status)") }
        if let pipeline = changes.pipelineID { parts.append("pipeline \(pipeline)") }
        if let user = changes.responsibleUserID { parts.append("responsible \(user)") }
        if !changes.customFields.isEmpty { parts.append("fields " + changes.customFields.map { "\($0.fieldID)" }.joined(separator: ", ")) }
        return await patchLead(operation: "kommo.update_lead", leadID: leadID, body: body, summary: parts.joined(separator: ", "),
                               account: account, logger: logger)
    }

    /// Gives a lead to another user: `PATCH /api/v4/leads/{id}` with `responsible_user_id`.
    package func changeResponsible(leadID: Int64, userID: Int64, account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        await patchLead(operation: "kommo.change_responsible", leadID: leadID, body: LeadPatchBody(responsibleUserID: userID),
                        summary: "responsible \(userID)", account: account, logger: logger)
    }

    private func patchLead(operation: String, leadID: Int64, body: LeadPatchBody, summary: String,
                           account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        await call(operation: operation, account: account, method: .PATCH, path: "/api/v4/leads/\(leadID)",
                   body: body, summary: "lead \(leadID): \(summary)", kind: .write, logger: logger).0
    }
}

// MARK: - Contacts

extension KommoClient {
    /// Changes a contact's name, first and last name, responsible user and custom fields:
    /// `PATCH /api/v4/contacts/{id}`.
    package func updateContact(contactID: Int64, _ changes: KommoContactChanges, account: KommoConnection?,
                               logger: Logger) async -> ExecutionResult {
        let body = ContactPatchBody(name: changes.name, firstName: changes.firstName, lastName: changes.lastName,
                                    responsibleUserID: changes.responsibleUserID,
                                    customFieldsValues: changes.customFields.isEmpty ? nil : changes.customFields)
        var parts: [String] = []
        if let name = changes.name { parts.append("name \(Self.excerpt(name))") }
        if let name = changes.firstName { parts.append("first name \(Self.excerpt(name))") }
        if let name = changes.lastName { parts.append("last name \(Self.excerpt(name))") }
        if let user = changes.responsibleUserID { parts.append("responsible \(user)") }
        if !changes.customFields.isEmpty { parts.append("fields " + changes.customFields.map { "\($0.fieldID)" }.joined(separator: ", ")) }
        return await call(operation: "kommo.update_contact", account: account, method: .PATCH, path: "/api/v4/contacts/\(contactID)",
                          body: body, summary: "contact \(contactID): " + parts.joined(separator: ", "), kind: .write, logger: logger).0
    }
}

// MARK: - Salesbot

extension KommoClient {
    /// Starts a Salesbot on a lead: `POST /api/v2/salesbot/run` (v2 path), which Kommo answers with 202.
    /// Only one bot runs per entity at a time; Kommo queues or drops a second start on its side.
    package func runSalesbot(botID: Int64, leadID: Int64, account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        await call(operation: "kommo.run_salesbot", account: account, method: .POST, path: "/api/v2/salesbot/run",
                   body: [SalesbotRunBody(botID: botID, entityID: leadID)],
                   summary: "bot \(botID) on lead \(leadID)", kind: .write, logger: logger).0
    }
}

// MARK: - Reads

extension KommoClient {
    /// Reads a lead with its contacts: `GET /api/v4/leads/{id}?with=contacts`. An unknown id (204) is a
    /// success with no entity.
    package func getLead(id: Int64, account: KommoConnection?, logger: Logger) async -> KommoRead<KommoLead> {
        let (result, response) = await call(
            operation: "kommo.get_lead", account: account, method: .GET, path: "/api/v4/leads/\(id)",
            query: "with=contacts", body: NoBody?.none, summary: "lead \(id)", kind: .read, logger: logger)
        return Self.read(result, response, KommoLead.init(json:))
    }

    /// Reads a contact with its leads: `GET /api/v4/contacts/{id}?with=leads`. An unknown id (204) is a
    /// success with no entity.
    package func getContact(id: Int64, account: KommoConnection?, logger: Logger) async -> KommoRead<KommoContact> {
        let (result, response) = await call(
            operation: "kommo.get_contact", account: account, method: .GET, path: "/api/v4/contacts/\(id)",
            query: "with=leads", body: NoBody?.none, summary: "contact \(id)", kind: .read, logger: logger)
        return Self.read(result, response, KommoContact.init(json:))
    }

    /// Reads the account the credentials belong to: `GET /api/v4/account`.
    package func getAccount(account: KommoConnection?, logger: Logger) async -> KommoRead<KommoAccountInfo> {
        let (result, response) = await call(
            operation: "kommo.get_account", account: account, method: .GET, path: "/api/v4/account",
            body: NoBody?.none, summary: "account", kind: .read, logger: logger)
        return Self.read(result, response, KommoAccountInfo.init(json:))
    }

    private static func read<Entity>(_ result: ExecutionResult, _ response: OutboundResponse?,
                                     _ parse: (JSONValue) -> Entity?) -> KommoRead<Entity> {
        var result = result
        guard result.outcome == .succeeded, let response else { return KommoRead(result: result, entity: nil) }
        if response.status == 204 {
            result.detail = "no content (204): no such entity"
            return KommoRead(result: result, entity: nil)
        }
        guard let entity = response.json.flatMap(parse) else {
            result.outcome = .failedPermanent
            result.detail = result.detail ?? "the answer has no entity id"
            return KommoRead(result: result, entity: nil)
        }
        return KommoRead(result: result, entity: entity)
    }
}

// MARK: - Helpers

extension KommoClient {
    /// The first characters of a text for a request summary: enough to recognise it, short in the log.
    static func excerpt(_ text: String, limit: Int = 60) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count <= limit ? "\"\(flat)\"" : "\"\(flat.prefix(limit))…\""
    }
}
