import Domain
import RuleEngine
import Synchronization

/// What evaluating an event needs from a tenant's configuration, prepared once: the enabled rules as a
/// `RuleSet`, the agents' gates and the rule names for answers.
package struct TenantRules: Sendable {
    package var ruleSet: RuleSet
    package var gates: [AgentGate]
    package var ruleNames: [String: String]
}

/// Prepared rule sets per tenant, dropped on any agent or rule write of that tenant.
///
/// A load that raced with a write must not put the old configuration back after the write dropped it:
/// each tenant has a generation that writes bump, and a load only stores its result when the generation
/// it started under is still current.
package final class RuleSetCache: Sendable {
    private struct State {
        var entries: [String: TenantRules] = [:]
        var generations: [String: UInt64] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    /// The cached rules of a tenant, or the generation to pass to `store` after loading them.
    package func lookup(_ tenantID: String) -> (rules: TenantRules?, generation: UInt64) {
        state.withLock { ($0.entries[tenantID], $0.generations[tenantID] ?? 0) }
    }

    /// Caches freshly loaded rules unless a write happened since `generation`.
    package func store(_ rules: TenantRules, for tenantID: String, generation: UInt64) {
        state.withLock { state in
            if (state.generations[tenantID] ?? 0) == generation { state.entries[tenantID] = rules }
        }
    }

    /// Drops a tenant's rules after a write.
    package func invalidate(_ tenantID: String) {
        state.withLock { state in
            state.entries[tenantID] = nil
            state.generations[tenantID, default: 0] &+= 1
        }
    }
}

/// Counters of evaluations since the process started, for the health RPC's metrics.
package final class EvaluationCounters: Sendable {
    /// A snapshot of the counters.
    package struct Snapshot: Sendable, Hashable {
        package var evaluations = 0
        package var dryRuns = 0
        package var repeats = 0
        package var fired = 0
    }

    private let state = Mutex(Snapshot())

    package init() {}

    /// Counts one evaluation.
    package func count(dryRun: Bool, repeated: Bool, fired: Int) {
        state.withLock { state in
            if dryRun { state.dryRuns += 1 } else if repeated { state.repeats += 1 } else {
                state.evaluations += 1
                state.fired += fired
            }
        }
    }

    /// The current values.
    package var snapshot: Snapshot { state.withLock { $0 } }
}
