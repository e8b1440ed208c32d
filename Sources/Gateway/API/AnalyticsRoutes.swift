import Basics
import Foundation
import Hummingbird
import ServiceKit
import Wire

/// `GET /api/v1/analytics/…`: reports over the counters each service keeps as things happen, merged here
/// into days of the requested time zone. Every route takes `from`, `to` (dates, both included; default
/// the last 30 days), `tz` (IANA; default UTC) and `agent_id`, and answers CSV to `Accept: text/csv`.
extension GatewayApp {
    static func addAnalyticsRoutes(to api: RouterGroup<GatewayContext>, peers: Peers, clock: any WallClock) {
        api.get("/analytics/overview") { request, context -> Response in
            let range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            return try await overview(range: range, request: request, context: context, peers: peers)
        }
        api.get("/analytics/agents/{agentId}") { request, context -> Response in
            var range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            let options = try peers.options(context)
            let agentID = try context.parameters.require("agentId")
            var ref = PB.DocumentRef()
            ref.id = agentID
            _ = try await peers.rules.getAgent(ref, options: options)
            range.agentID = agentID
            return try await overview(range: range, request: request, context: context, peers: peers)
        }
        api.get("/analytics/rules") { request, context -> Response in
            let range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            let options = try peers.options(context)
            let counts = try await counters(range, peers: peers, options: options, services: [.rules, .sequences])
            let names = try await ruleNames(AnalyticsRulesDTO.ruleIDs(counts), peers: peers, options: options)
            let report = AnalyticsRulesDTO(range: range, counts: counts, names: names)
            return try answer(report, request: request, header: AnalyticsRulesDTO.csvHeader, rows: report.csvRows)
        }
        api.get("/analytics/sequences") { request, context -> Response in
            let range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            let options = try peers.options(context)
            let counts = try await counters(range, peers: peers, options: options, services: [.sequences])
            var names: [String: String] = [:]
            for id in AnalyticsSequencesDTO.sequenceIDs(counts) {
                if let sequence = try await sequence(id, peers: peers, options: options) { names[id] = sequence.name }
            }
            let report = AnalyticsSequencesDTO(range: range, counts: counts, names: names)
            return try answer(report, request: request, header: AnalyticsSequencesDTO.csvHeader, rows: report.csvRows)
        }
        api.get("/analytics/sequences/{sequenceId}/funnel") { request, context -> Response in
            let range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            let options = try peers.options(context)
            let id = try context.parameters.require("sequenceId")
            guard let sequence = try await sequence(id, peers: peers, options: options) else {
                throw Problem(status: .notFound, detail: "no sequence \(id)")
            }
            let counts = try await counters(range, peers: peers, options: options, services: [.sequences])
            let report = AnalyticsFunnelDTO(range: range, counts: counts, sequenceID: id, name: sequence.name, steps: sequence.steps)
            return try answer(report, request: request, header: AnalyticsFunnelDTO.csvHeader, rows: report.csvRows)
        }
        api.get("/analytics/scripts") { request, context -> Response in
            let range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            let options = try peers.options(context)
            async let agentChecked: Void = checkAgent(range, peers: peers, options: options)
            let agentIDs: [String]
            if let agentID = range.agentID { agentIDs = [agentID] } else { agentIDs = try await allAgentIDs(peers: peers, options: options) }
            try await agentChecked
            let report = try await AnalyticsScriptsDTO(range: range, agentIDs: agentIDs) { agentID in
                var query = PB.StatsQuery()
                query.agentId = agentID
                query.fromMicros = range.fromHour * 3_600_000_000
                query.toMicros = range.toHour * 3_600_000_000
                return try await peers.rules.scriptRanking(query, options: options).json
            }
            return try answer(report, request: request, header: AnalyticsScriptsDTO.csvHeader, rows: report.csvRows)
        }
        api.get("/analytics/outcomes") { request, context -> Response in
            let range = try AnalyticsRange.read(QueryReader(request), now: clock.now())
            let options = try peers.options(context)
            let counts = try await counters(range, peers: peers, options: options, services: [.sequences])
            let ruleIDs = counts.totals.keys.compactMap { key -> String? in
                let p = key.split(separator: ".")
                return p.count == 4 && p[0] == "outcomes" && p[2] == "rule" ? String(p[3]) : nil
            }
            let names = try await ruleNames(Array(Set(ruleIDs)).sorted(), peers: peers, options: options)
            let report = AnalyticsOutcomesDTO(range: range, counts: counts, ruleNames: names)
            return try answer(report, request: request, header: AnalyticsOutcomesDTO.csvHeader, rows: report.csvRows)
        }
    }

    // MARK: - Building blocks

    enum AnalyticsService { case ingest, rules, sequences }

    private static func overview(range: AnalyticsRange, request: Request, context: GatewayContext, peers: Peers) async throws -> Response {
        let options = try peers.options(context)
        let counts = try await counters(range, peers: peers, options: options, services: [.ingest, .rules, .sequences])
        let fires = AnalyticsRulesDTO.ruleIDs(counts).map { ($0, counts.totals["rule.\($0).fired"] ?? 0) }
            .filter { $0.1 > 0 }.sorted { ($1.1, $0.0) < ($0.1, $1.0) }.prefix(10).map(\.0)
        let names = try await ruleNames(fires, peers: peers, options: options)
        let report = AnalyticsOverviewDTO(range: range, counts: counts, ruleNames: names)
        return try answer(report, request: request, header: AnalyticsOverviewDTO.csvHeader, rows: report.csvRows)
    }

    /// An `agent_id` that is not one of the tenant's agents is a field problem, not an empty report.
    private static func checkAgent(_ range: AnalyticsRange, peers: Peers, options: CallOptions) async throws {
        guard let agentID = range.agentID else { return }
        var ref = PB.DocumentRef()
        ref.id = agentID
        do {
            _ = try await peers.rules.getAgent(ref, options: options)
        } catch {
            guard error.code == .notFound else { throw error }
            throw Problem.field("agent_id", "no such agent")
        }
    }

    /// The services' counters for the range, fetched side by side, and beside them the check that the
    /// range's agent is the tenant's (one round trip of waiting, not two).
    private static func counters(_ range: AnalyticsRange, peers: Peers, options: CallOptions,
                                 services: Set<AnalyticsService>) async throws -> AnalyticsCounts {
        async let agentChecked: Void = checkAgent(range, peers: peers, options: options)
        let query = range.query
        async let ingest = services.contains(.ingest) ? peers.ingest.analyticsCounters(query, options: options) : PB.AnalyticsCounts()
        async let rules = services.contains(.rules) ? peers.rules.analyticsCounters(query, options: options) : PB.AnalyticsCounts()
        async let sequences = services.contains(.sequences) ? peers.sequences.analyticsCounters(query, options: options) : PB.AnalyticsCounts()
        let answers = try await [ingest, rules, sequences]
        try await agentChecked
        return AnalyticsCounts(range: range, answers: answers)
    }

    /// The tenant's agents (at most 100, the quota), in pages.
    private static func allAgentIDs(peers: Peers, options: CallOptions) async throws -> [String] {
        var ids: [String] = []
        var cursor = ""
        repeat {
            var query = PB.DocumentQuery()
            query.limit = 200
            query.cursor = cursor
            let page = try await peers.rules.listAgents(query, options: options)
            ids += page.items.map(\.id)
            cursor = page.nextCursor
        } while !cursor.isEmpty
        return ids
    }

    /// Rule names by id; a rule deleted since it was counted has none.
    private static func ruleNames(_ ids: [String], peers: Peers, options: CallOptions) async throws -> [String: String] {
        try await withThrowingTaskGroup(of: (String, String?).self) { group in
            for id in ids.prefix(200) {
                group.addTask {
                    var ref = PB.DocumentRef()
                    ref.id = id
                    do {
                        let rule = try await peers.rules.getRule(ref, options: options)
                        return (id, JSONValue(parsing: Array(rule.json.utf8))?["name"]?.string)
                    } catch let error as RPCError where error.code == .notFound {
                        return (id, nil)
                    }
                }
            }
            var names: [String: String] = [:]
            for try await (id, name) in group { if let name { names[id] = name } }
            return names
        }
    }

    /// A sequence's name and steps in order; nil when the tenant has no such sequence.
    private static func sequence(_ id: String, peers: Peers, options: CallOptions) async throws
        -> (name: String, steps: [(id: String, actionType: String)])? {
        var ref = PB.DocumentRef()
        ref.id = id
        let found: PB.Document?
        do {
            found = try await peers.sequences.getSequence(ref, options: options)
        } catch {
            guard error.code == .notFound else { throw error }
            found = nil
        }
        guard let document = found else { return nil }
        let json = JSONValue(parsing: Array(document.json.utf8))
        let steps = (json?["steps"]?.array ?? []).map { step in
            (id: step["id"]?.string ?? "", actionType: step["action"]?["type"]?.string ?? "")
        }
        return (json?["name"]?.string ?? "", steps)
    }

    /// JSON, or CSV when the request's `Accept` asks for `text/csv`.
    private static func answer<T: Encodable>(_ report: T, request: Request, header: [String], rows: [[String]]) throws -> Response {
        guard (request.headers[.accept] ?? "").lowercased().contains("text/csv") else { return try jsonResponse(report) }
        return CSV.response(header: header, rows: rows)
    }
}

/// RFC 4180 CSV for the analytics reports.
enum CSV {
    static func response(header: [String], rows: [[String]]) -> Response {
        let text = ([header] + rows).map { $0.map(cell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Quotes a cell when it must be; a text that a spreadsheet would run as a formula (names are the
    /// tenant's input) gets a leading apostrophe.
    static func cell(_ value: String) -> String {
        var value = value
        if let first = value.first, "=+-@\t\r".contains(first), Double(value) == nil { value = "'" + value }
        guard value.contains(where: { ",\"\r\n".contains($0) }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
