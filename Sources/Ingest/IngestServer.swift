import Basics
import Domain
import Foundation
import Logging
import ServiceKit
import Synchronization
import Wire

/// The `Ingest` RPC service: the only door for events, plus webhook sources, history and replay.
package struct IngestServer: IngestHandler {
    let store: IngestStore
    let dispatcher: Dispatcher
    let rules: RulesClient
    /// Checks Chats API channel signatures: the channel secrets are sequence-service's.
    let sequences: SequencesClient
    let clock: any WallClock
    let counters: IntakeCounters

    package init(store: IngestStore, dispatcher: Dispatcher, rules: RulesClient, sequences: SequencesClient, clock: any WallClock,
                 counters: IntakeCounters) {
        self.store = store
        self.dispatcher = dispatcher
        self.rules = rules
        self.sequences = sequences
        self.clock = clock
        self.counters = counters
    }

    // MARK: - Intake

    package func ingest(_ request: PB.IngestRequest, context: RPCContext) async throws -> PB.IngestResponse {
        try Self.checkOrigin(request, caller: context.caller)
        let now = request.receivedAtMicros != 0 ? request.receivedAtMicros : clock.now().unixMicros
        if !request.sourceSecret.isEmpty {
            return try await webhook(request, now: now, context: context)
        }
        if !request.chatsScopeId.isEmpty {
            return try await chatsWebhook(request, now: now, context: context)
        }
        guard !request.events.isEmpty else {
            throw RPCError.invalid([FieldViolation(field: "source_secret", message: "a webhook needs the source secret"),
                                    FieldViolation(field: "events", message: "or internal events are needed")])
        }
        return try await internalEvents(request.events, now: now, context: context)
    }

    /// What each caller may put in: webhooks come through the gateway; timer events only from
    /// sequence-service, whose schedule they belong to. An empty caller is a plaintext (development) listener.
    package static func checkOrigin(_ request: PB.IngestRequest, caller: String) throws(RPCError) {
        guard !caller.isEmpty else { return }
        if (!request.sourceSecret.isEmpty || !request.chatsScopeId.isEmpty) && caller != "gateway" {
            throw RPCError(.permissionDenied, "\(caller) may not deliver webhooks")
        }
        let timers = request.events.contains { $0.type == .timerFired || $0.origin == .timer }
        if timers && caller != "sequence-service" {
            throw RPCError(.permissionDenied, "only sequence-service may ingest timer_fired events")
        }
        if !timers && !request.events.isEmpty && caller != "gateway" {
            throw RPCError(.permissionDenied, "\(caller) may ingest only timer events")
        }
    }

    private func webhook(_ request: PB.IngestRequest, now: Int64, context: RPCContext) async throws -> PB.IngestResponse {
        guard let source = try await store.resolve(secret: request.sourceSecret, now: now) else {
            throw RPCError(.notFound, "unknown webhook source")
        }
        if request.probe {
            var known = PB.IngestResponse()
            known.tenantId = source.tenantID
            known.status = .accepted
            return known
        }
        var delivery = NewDelivery(
            id: RandomID.make("dlv_", hexDigits: 24), tenantID: source.tenantID, status: .accepted, reason: "", origin: .kommo,
            receivedAt: now, contentType: request.contentType, remoteAddress: request.remoteAddress,
            userAgent: request.userAgent, body: request.body)
        var response = PB.IngestResponse()
        response.deliveryId = delivery.id
        response.tenantId = source.tenantID
        let parsed: ParsedDelivery
        do {
            parsed = try KommoWebhookParser.parse(body: request.body, tenantID: source.tenantID, receivedAt: Date(unixMicros: now))
        } catch {
            // It authenticated, so it is kept: stored as unparsed with the reason, and can be re-parsed later.
            delivery.status = .unparsed
            // The reason may quote the body, and the wire refuses NUL bytes: they are written as `\0`.
            delivery.reason = error.reason.replacingOccurrences(of: "\u{0}", with: "\\0")
            _ = try await store.intake(delivery, events: [])
            counters.count("unparsed")
            context.logger.warning("webhook.unparsed", metadata: ["tenant.id": "\(source.tenantID)", "delivery.id": "\(delivery.id)", "reason": "\(error.reason)"])
            response.status = .unparsed
            response.reason = delivery.reason
            return response
        }
        if let known = source.accountID, let sent = parsed.account.id, known != sent {
            delivery.status = .rejected
            delivery.reason = "account \(sent) is not the connected Kommo account"
            _ = try await store.intake(delivery, events: [])
            counters.count("rejected")
            throw RPCError(.permissionDenied, "the webhook's account does not match this source's Kommo account")
        }
        if source.accountID == nil, let sent = parsed.account.id {
            try await store.learnAccount(tenantID: source.tenantID, accountID: sent, subdomain: parsed.account.subdomain ?? "",
                                         baseURL: parsed.account.baseURL ?? "")
        }
        let events = parsed.events.map { StoredEvent(event: $0, deliveryID: delivery.id) }
        let outcome = try await store.intake(delivery, events: events)
        counters.count(outcome.status.rawValue, events: outcome.newEvents)
        if outcome.newEvents > 0 { dispatcher.nudge.signal() }
        return Self.response(outcome, deliveryID: delivery.id, tenantID: source.tenantID)
    }

    /// A Chats API channel webhook: the signature is checked by sequence-service, which keeps the channel
    /// secret, before anything is stored. A valid body is stored and answered like a Kommo webhook (a
    /// body that does not parse is kept as `unparsed`). A bad signature for a known channel leaves a
    /// `rejected` delivery with the reason and no body, and is refused UNAUTHENTICATED; an unknown scope
    /// id is NOT_FOUND and leaves nothing.
    private func chatsWebhook(_ request: PB.IngestRequest, now: Int64, context: RPCContext) async throws -> PB.IngestResponse {
        var check = PB.ChatsWebhookCheck()
        check.scopeId = request.chatsScopeId
        check.body = request.body
        check.signature = request.signature
        let verdict = try await verifyChats(check, traceID: context.traceID)
        let tenantID = verdict.tenantId
        var delivery = NewDelivery(
            id: RandomID.make("dlv_", hexDigits: 24), tenantID: tenantID, status: .accepted, reason: "", origin: .kommo,
            receivedAt: now, contentType: request.contentType, remoteAddress: request.remoteAddress,
            userAgent: request.userAgent, body: request.body)
        guard verdict.valid else {
            delivery.status = .rejected
            delivery.reason = request.signature.isEmpty
                ? "Chats API webhook without X-Signature" : "X-Signature does not match the channel secret"
            // Unauthenticated bytes are not kept: the row says that a delivery was refused, and why.
            delivery.body = nil
            _ = try await store.intake(delivery, events: [])
            counters.count("rejected")
            context.logger.warning("webhook.chats_signature_refused", metadata: ["tenant.id": "\(tenantID)", "delivery.id": "\(delivery.id)"])
            throw RPCError(.unauthenticated, "the Chats API webhook's signature does not match the channel secret")
        }
        var response = PB.IngestResponse()
        response.deliveryId = delivery.id
        response.tenantId = tenantID
        let events: [KommoEvent]
        do {
            events = try KommoChatsWebhookParser.parse(body: request.body, tenantID: tenantID, scopeID: request.chatsScopeId,
                                                       receivedAt: Date(unixMicros: now))
        } catch {
            delivery.status = .unparsed
            delivery.reason = error.reason
            _ = try await store.intake(delivery, events: [])
            counters.count("unparsed")
            response.status = .unparsed
            response.reason = delivery.reason
            return response
        }
        let outcome = try await store.intake(delivery, events: events.map { StoredEvent(event: $0, deliveryID: delivery.id) })
        counters.count(outcome.status.rawValue, events: outcome.newEvents)
        if outcome.newEvents > 0 { dispatcher.nudge.signal() }
        return Self.response(outcome, deliveryID: delivery.id, tenantID: tenantID)
    }

    /// sequence-service's word on a Chats API webhook; a scope id it does not know is NOT_FOUND.
    private func verifyChats(_ check: PB.ChatsWebhookCheck, traceID: String) async throws -> PB.ChatsWebhookVerdict {
        do {
            return try await sequences.verifyChatsWebhook(check, options: CallOptions(timeout: .seconds(3), traceID: traceID))
        } catch {
            // The client throws RPCError, typed.
            let code = error.code
            if code == .notFound || code == .invalidArgument { throw RPCError(.notFound, "unknown Chats API channel") }
            throw error
        }
    }

    private func internalEvents(_ events: [PB.Event], now: Int64, context: RPCContext) async throws -> PB.IngestResponse {
        try await internalEvents(events.map(StoredEvent.init), wire: events, now: now, context: context)
    }

    private func internalEvents(_ events: [StoredEvent], wire: [PB.Event], now: Int64, context: RPCContext) async throws -> PB.IngestResponse {
        let tenantID = try context.requireTenant()
        var violations: [FieldViolation] = []
        for (index, event) in wire.enumerated() {
            if event.id.isEmpty { violations.append(FieldViolation(field: "events[\(index)].id", message: "is required")) }
            if ![PB.EventOrigin.timer, .manual, .replay].contains(event.origin) {
                violations.append(FieldViolation(field: "events[\(index)].origin", message: "must be timer, manual or replay"))
            }
            if event.type == .unspecified { violations.append(FieldViolation(field: "events[\(index)].type", message: "is required")) }
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        let delivery = NewDelivery(id: RandomID.make("dlv_", hexDigits: 24), tenantID: tenantID, status: .accepted, reason: "",
                                   origin: events[0].event.origin, receivedAt: now, contentType: "", remoteAddress: context.peer,
                                   userAgent: "", body: nil)
        let stamped = zip(events, wire).map { stored, wire -> StoredEvent in
            var stored = stored
            stored.event.tenantID = tenantID
            stored.deliveryID = delivery.id
            if wire.receivedAtMicros == 0 { stored.event.receivedAt = Date(unixMicros: now) }
            if wire.occurredAtMicros == 0 { stored.event.occurredAt = Date(unixMicros: now) }
            return stored
        }
        let outcome = try await store.intake(delivery, events: stamped)
        counters.count("internal", events: outcome.newEvents)
        if outcome.newEvents > 0 { dispatcher.nudge.signal() }
        return Self.response(outcome, deliveryID: delivery.id, tenantID: tenantID)
    }

    /// The answer to a committed intake.
    static func response(_ outcome: IntakeOutcome, deliveryID: String, tenantID: String) -> PB.IngestResponse {
        var response = PB.IngestResponse()
        response.deliveryId = deliveryID
        response.tenantId = tenantID
        response.status = PB.DeliveryStatus(outcome.status)
        response.eventIds = outcome.eventIDs
        response.newEvents = Int32(outcome.newEvents)
        response.duplicateEvents = Int32(outcome.duplicates)
        return response
    }

    // MARK: - Tenant state

    /// Suspends or resumes a tenant's dispatch (the gateway's call); see ``IngestStore/setTenantState``.
    package func setTenantState(_ request: PB.TenantState, context: RPCContext) async throws -> PB.TenantStateResponse {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        guard request.heldEvents == .dispatch || request.heldEvents == .skip else {
            throw RPCError.invalid(field: "held_events", "must be dispatch or skip")
        }
        let changed = try await store.setTenantState(tenantID: request.tenantId, suspended: request.suspended,
                                                     skipHeld: !request.suspended && request.heldEvents == .skip,
                                                     now: clock.now().unixMicros)
        if !request.suspended { dispatcher.nudge.signal() }
        var response = PB.TenantStateResponse()
        response.suspended = request.suspended
        response.events = Int32(changed)
        return response
    }

    /// The plan's webhook allowance (the gateway's call); see ``IngestStore/setTenantAllowance``. Released
    /// events are dispatched at once.
    package func setTenantPlan(_ request: PB.TenantPlan, context: RPCContext) async throws -> PB.TenantStateResponse {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        let released = try await store.setTenantAllowance(tenantID: request.tenantId, planID: request.planId,
                                                          webhookEventsPerMonth: request.webhookEventsPerMonth, now: clock.now().unixMicros)
        if released > 0 {
            dispatcher.nudge.signal()
            context.logger.info("ingest.plan_held_released", metadata: ["tenant.id": "\(request.tenantId)", "events.count": "\(released)"])
        }
        var response = PB.TenantStateResponse()
        response.events = Int32(released)
        return response
    }

    // MARK: - Sources

    package func ensureWebhookSource(_ request: PB.TenantRequest, context: RPCContext) async throws -> PB.WebhookSource {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        return Self.wire(try await store.ensureSource(tenantID: request.tenantId, now: clock.now().unixMicros))
    }

    package func getWebhookSource(_ request: PB.TenantRequest, context: RPCContext) async throws -> PB.WebhookSource {
        guard let source = try await store.source(tenantID: request.tenantId) else { throw RPCError(.notFound, "no webhook source") }
        return Self.wire(source)
    }

    package func bindKommoAccount(_ request: PB.KommoAccountBinding, context: RPCContext) async throws -> PB.WebhookSource {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        guard request.accountId >= 0 else { throw RPCError.invalid(field: "account_id", "must not be negative") }
        guard let source = try await store.bindAccount(tenantID: request.tenantId, accountID: request.accountId > 0 ? request.accountId : nil,
                                                       subdomain: request.subdomain, baseURL: request.baseUrl)
        else { throw RPCError(.notFound, "no webhook source") }
        return Self.wire(source)
    }

    package func rotateWebhookSource(_ request: PB.RotateRequest, context: RPCContext) async throws -> PB.WebhookSource {
        guard (0...(30 * 86_400)).contains(request.graceSeconds) else {
            throw RPCError.invalid(field: "grace_seconds", "must be between 0 and 2592000")
        }
        guard let source = try await store.rotateSource(tenantID: request.tenantId, graceSeconds: request.graceSeconds,
                                                        now: clock.now().unixMicros)
        else { throw RPCError(.notFound, "no webhook source") }
        return Self.wire(source)
    }

    static func wire(_ source: SourceRecord) -> PB.WebhookSource {
        var wire = PB.WebhookSource()
        wire.tenantId = source.tenantID
        wire.secret = source.secret
        wire.accountId = source.accountID ?? 0
        wire.subdomain = source.subdomain
        wire.createdAtMicros = source.createdAt
        wire.previousSecret = source.previousSecret
        wire.previousExpiresAtMicros = source.previousExpiresAt
        return wire
    }

    // MARK: - History

    package func listEvents(_ request: PB.EventQuery, context: RPCContext) async throws -> PB.EventPage {
        try await store.listEvents(tenantID: try context.requireTenant(), query: request)
    }

    package func getEvent(_ request: PB.IdRequest, context: RPCContext) async throws -> PB.EventDetail {
        guard let detail = try await store.eventDetail(tenantID: try context.requireTenant(), eventID: request.id) else {
            throw RPCError(.notFound, "no such event")
        }
        return detail
    }

    package func listDeliveries(_ request: PB.DeliveryQuery, context: RPCContext) async throws -> PB.DeliveryPage {
        try await store.listDeliveries(tenantID: try context.requireTenant(), query: request)
    }

    package func reparse(_ request: PB.IdRequest, context: RPCContext) async throws -> PB.IngestResponse {
        let tenantID = try context.requireTenant()
        guard let delivery = try await store.delivery(tenantID: tenantID, id: request.id) else {
            throw RPCError(.notFound, "no such delivery")
        }
        guard delivery.status == .unparsed else { throw RPCError(.failedPrecondition, "only unparsed deliveries can be re-parsed") }
        guard !delivery.bodyExpired else { throw RPCError(.failedPrecondition, "the raw body is past retention") }
        let parsed: ParsedDelivery
        do {
            parsed = try KommoWebhookParser.parse(body: delivery.body, tenantID: tenantID, receivedAt: Date(unixMicros: delivery.receivedAtMicros))
        } catch {
            throw RPCError(.failedPrecondition, "still cannot be parsed: \(error.reason)")
        }
        let events = parsed.events.map { StoredEvent(event: $0, deliveryID: delivery.id) }
        let outcome = try await store.reparsed(deliveryID: delivery.id, tenantID: tenantID, events: events)
        if outcome.newEvents > 0 { dispatcher.nudge.signal() }
        return Self.response(outcome, deliveryID: delivery.id, tenantID: tenantID)
    }

    // MARK: - Replay

    package func replay(_ request: PB.ReplayRequest, context: RPCContext) async throws -> PB.ReplayResponse {
        let tenantID = try context.requireTenant()
        guard request.mode == .dryRun || request.mode == .live else {
            throw RPCError.invalid(field: "mode", "must be dry_run or live")
        }
        var response = PB.ReplayResponse()
        response.mode = request.mode
        let originals: [StoredEvent]
        if !request.eventId.isEmpty {
            guard let event = try await store.event(tenantID: tenantID, id: request.eventId) else { throw RPCError(.notFound, "no such event") }
            originals = [event]
        } else {
            guard let filter = request.filter else { throw RPCError.invalid(field: "event_id", "or a filter is required") }
            var query = filter
            var found: [StoredEvent] = []
            query.limit = 200
            repeat {
                let page = try await store.listEvents(tenantID: tenantID, query: query)
                for summary in page.items {
                    if let event = try await store.event(tenantID: tenantID, id: summary.id) { found.append(event) }
                }
                query.cursor = page.nextCursor
            } while !query.cursor.isEmpty && found.count < Self.maximumReplay
            response.matched = Int32(found.count)
            guard request.confirm else { return response }
            originals = found.reversed()
        }
        response.matched = Int32(originals.count)
        if request.mode == .dryRun {
            for event in originals {
                var evaluate = PB.EvaluateRequest()
                evaluate.event = PB.Event(event)
                evaluate.dryRun = true
                response.decisions.append(try await rules.evaluate(evaluate, options: CallOptions(tenantID: tenantID)))
            }
            return response
        }
        let scope = RandomID.make("rpl_", hexDigits: 24)
        let copies = originals.map { original -> PB.Event in
            var copy = PB.Event(original)
            copy.id = "ev_" + IngestStore.hash(original.event.id + "|" + scope).prefix(32)
            copy.origin = .replay
            copy.replayScope = scope
            copy.receivedAtMicros = clock.now().unixMicros
            return copy
        }
        let answer = try await internalEvents(copies, now: clock.now().unixMicros, context: context)
        response.newEventIds = answer.eventIds
        return response
    }

    static let maximumReplay = 1000

    package func stats(_ request: PB.StatsRequest, context: RPCContext) async throws -> PB.StatsResponse {
        try await store.stats(tenantID: try context.requireTenant(), from: request.fromMicros, to: request.toMicros)
    }

    package func analyticsCounters(_ request: PB.AnalyticsQuery, context: RPCContext) async throws -> PB.AnalyticsCounts {
        try AnalyticsCounters.validate(request)
        let tenantID = try context.requireTenant()
        // Ingest counts nothing per agent: an agent filter leaves only what is attributed to agents, none of it here.
        guard request.agentId.isEmpty else { return PB.AnalyticsCounts() }
        return PB.AnalyticsCounts(try await store.analyticsCounts(tenantID: tenantID, fromHour: request.fromHour, toHour: request.toHour,
                                                                   buckets: request.bucketStarts))
    }
}

/// In-memory counters of deliveries by outcome, for metrics.
package final class IntakeCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    package init() {}
    func count(_ status: String, events: Int = 0) {
        counts.withLock {
            $0["deliveries|\(status)", default: 0] += 1
            $0["events", default: 0] += events
        }
    }
    /// Counts a metrics scrape that could not read the dispatch queue's depth.
    func countQueueDepthFailure() {
        counts.withLock { $0["queue_depth_failures", default: 0] += 1 }
    }

    package var snapshot: [String: Int] { counts.withLock { $0 } }
}
