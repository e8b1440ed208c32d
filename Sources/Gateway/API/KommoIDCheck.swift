import Basics
import Foundation
import ServiceKit
import Wire

/// What a document naming ids the connected Kommo account does not have gets.
package enum UnknownKommoIDs: String, Sendable, Hashable {
    /// Saved, with a warning at each unknown id.
    case warn
    /// Refused with 422 and an error at each unknown id.
    case refuse
}

/// Checks the Kommo ids a rule, sequence, agent or script names against the tenant's account catalog
/// (kept by sequence-service). A tenant without a connected catalog is not checked: ids are taken as
/// written, as before connecting.
struct KommoIDCheck: Sendable {
    var mode: UnknownKommoIDs
    var sequences: SequencesClient
    var clock: any WallClock
    /// Before refusing, a catalog older than this is read again from Kommo once: the id may be new.
    var refreshAfter: Duration

    /// The problems with `json`'s ids: returned as warnings in `warn` mode; thrown as a 422 in `refuse`
    /// mode. An unreadable catalog checks nothing (the service's own validation still runs).
    func check(_ json: String, options: CallOptions) async throws -> [FieldViolation] {
        guard let document = JSONValue(parsing: json), !KommoIDReference.all(in: document).isEmpty else { return [] }
        guard let catalog = try? await catalog(options: options, refresh: false) else { return [] }
        var problems = catalog.index.unknownIDs(in: document)
        if !problems.isEmpty, mode == .refuse, catalog.age.map({ $0 > refreshAfter }) ?? true,
           let fresh = try? await self.catalog(options: options, refresh: true) {
            problems = fresh.index.unknownIDs(in: document)
        }
        guard !problems.isEmpty else { return [] }
        if mode == .refuse {
            throw Problem(status: .unprocessableContent,
                          detail: "the document names ids the connected Kommo account does not have", errors: problems)
        }
        return problems
    }

    private func catalog(options: CallOptions, refresh: Bool) async throws -> (index: KommoCatalogIndex, age: Duration?)? {
        let answer = refresh ? try await sequences.refreshKommoCatalog(PB.DocumentRef(), options: options)
                             : try await sequences.kommoCatalog(PB.DocumentRef(), options: options)
        guard let json = JSONValue(parsing: answer.json), json["connected"]?.bool == true else { return nil }
        let refreshedAt = json["refreshed_at"]?.string.flatMap(RFC3339.parse)
        guard let refreshedAt else { return nil } // connected, catalog never read: nothing to check against
        let age = Duration.seconds(clock.now().timeIntervalSince(refreshedAt))
        return (KommoCatalogIndex(catalog: json), age)
    }
}
