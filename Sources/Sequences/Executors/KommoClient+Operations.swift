import Basics
import Foundation
import Logging
import NIOHTTP1

// MARK: - Tasks

extension KommoClient {
    /// Creates a task on a lead: one element of a `POST /api/v4/tasks` batch (``KommoBatcher``), alone
    /// or with the account's other due tasks.
    ///
    /// `idempotencyKey` travels as Kommo's `request_id` (Kommo echoes it, it does not deduplicate by it; the
    /// scheduler's own idempotency is what prevents a second task), and maps the answer back to this
    /// task. The created id is in ``ExecutionResult/createdIDs``.
    package func createTask(_ task: KommoTaskDraft, idempotencyKey: String, account: KommoConnection?,
                            logger: Logger) async -> ExecutionResult {
        let body = TaskBody(
            text: task.text, completeTill: task.completeTill, entityID: task.leadID,
            entityType: task.leadID == nil ? nil : "leads", taskTypeID: task.taskTypeID,
            responsibleUserID: task.responsibleUserID, requestID: idempotencyKey)
        let summary = "task on lead \(task.leadID.map(String.init) ?? "-") due \(task.completeTill), "
            + "type \(task.taskTypeID.map(String.init) ?? "default"): \(Self.excerpt(task.text))"
        return await batched(.tasks, requestID: idempotencyKey, element: body, entityID: task.leadID, operation: "kommo.create_task",
                             summary: summary, account: account, logger: logger).result
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
    /// Adds a note to a lead: one element (with its `entity_id`) of a `POST /api/v4/leads/notes` batch.
    /// `requestID` maps the answer back; without one, a random id is used.
    package func addNote(leadID: Int64, text: String, kind: KommoNoteKind = .common, requestID: String? = nil,
                         account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        let requestID = requestID ?? "note-\(UUID().uuidString)"
        let note: NoteBody = switch kind {
        case .common: NoteBody(entityID: leadID, noteType: "common", params: .init(text: text), requestID: requestID)
        case .serviceMessage(let service):
            NoteBody(entityID: leadID, noteType: "service_message", params: .init(text: text, service: service), requestID: requestID)
        }
        return await batched(.notes(entity: "leads"), requestID: requestID, element: note, entityID: leadID, operation: "kommo.add_note",
                             summary: "lead \(leadID): \(note.noteType) note: \(Self.excerpt(text))", account: account, logger: logger).result
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

    /// One element (with its `id`) of a `PATCH /api/v4/leads` batch; a batch changes each lead once.
    private func patchLead(operation: String, leadID: Int64, body: LeadPatchBody, summary: String,
                           account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        var body = body
        body.id = leadID
        return await batched(.leadUpdates, requestID: "lead:\(leadID):\(UUID().uuidString)", element: body, entityID: leadID,
                             operation: operation, summary: "lead \(leadID): \(summary)", account: account, logger: logger).result
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
    ///
    /// Sent once: a 5xx or a timeout may come after the bot already ran (and messaged the client), so
    /// such an answer is `in_doubt` and not sent again by itself; an operator retries or dismisses it.
    /// A 429 (not run) is retried as usual.
    package func runSalesbot(botID: Int64, leadID: Int64, account: KommoConnection?, logger: Logger) async -> ExecutionResult {
        var result = await call(operation: "kommo.run_salesbot", account: account, method: .POST, path: "/api/v2/salesbot/run",
                                body: [SalesbotRunBody(botID: botID, entityID: leadID)],
                                summary: "bot \(botID) on lead \(leadID)", kind: .write, logger: logger, retry: .once).0
        let status = result.httpStatus
        let unanswered = status == nil && result.attempts > 0
        if result.outcome == .failedRetryable, unanswered || (status.map { $0 >= 500 } ?? false) {
            result.outcome = .inDoubt
            result.retryAfter = nil
            let what = status.map { "Kommo answered \($0)" } ?? "no answer (\(result.detail ?? "transport error"))"
            result.detail = "in doubt: \(what) to the Salesbot run, which may have run and messaged the client; "
                + "not sent again by itself (retry or dismiss it)"
        }
        return result
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
    /// `probe`: the one call a paused account still receives (see ``KommoAccountProbe``).
    package func getAccount(account: KommoConnection?, logger: Logger, probe: Bool = false) async -> KommoRead<KommoAccountInfo> {
        let (result, response) = await call(
            operation: "kommo.get_account", account: account, method: .GET, path: "/api/v4/account",
            body: NoBody?.none, summary: "account", kind: .read, logger: logger, probe: probe, retry: probe ? .once : nil)
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
