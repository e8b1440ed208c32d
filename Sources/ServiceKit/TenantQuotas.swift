import Wire

/// How many of each resource one tenant may hold, so that no tenant can fill a shared store or make
/// every listing and evaluation of its own slow for the machine. The service that owns a resource checks
/// its quota in the same transaction as the insert.
package struct TenantQuotas: Sendable, Equatable {
    package var agents: Int
    package var rules: Int
    package var scripts: Int
    package var sequences: Int

    package init(agents: Int = 100, rules: Int = 2_000, scripts: Int = 1_000, sequences: Int = 500) {
        self.agents = agents
        self.rules = rules
        self.scripts = scripts
        self.sequences = sequences
    }

    /// The error a create beyond a quota answers: RESOURCE_EXHAUSTED (429 at the gateway), naming the quota.
    package static func exceeded(_ noun: String, setting: String, limit: Int) -> RPCError {
        RPCError(.resourceExhausted, "quota \(setting) exceeded: a tenant may hold at most \(limit) \(noun); delete some first or ask the operator to raise --\(setting.replacingOccurrences(of: "_", with: "-"))")
    }
}
