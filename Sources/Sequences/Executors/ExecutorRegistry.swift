import Domain

/// Which executor carries out each ``ActionType``: built once in the composition root, and complete by
/// construction — building it fails when a type has no executor or more than one.
package struct ExecutorRegistry: Sendable {
    private let executors: [ActionType: any ActionExecutor]

    /// A registry of `executors`; throws ``ExecutorRegistryError`` unless every ``ActionType`` is declared by
    /// exactly one of them.
    package init(_ executors: [any ActionExecutor]) throws(ExecutorRegistryError) {
        var byType: [ActionType: any ActionExecutor] = [:]
        var claims: [ActionType: [String]] = [:]
        for executor in executors {
            for type in executor.actionTypes {
                byType[type] = executor
                claims[type, default: []].append(Self.name(of: executor))
            }
        }
        let missing = ActionType.allCases.filter { claims[$0] == nil }
        let shared = ActionType.allCases.compactMap { type in
            claims[type].flatMap { $0.count > 1 ? ExecutorRegistryError.Conflict(type: type, executors: $0) : nil }
        }
        guard missing.isEmpty, shared.isEmpty else { throw ExecutorRegistryError(missing: missing, shared: shared) }
        self.executors = byType
    }

    /// The executor of `type`.
    package func executor(for type: ActionType) -> any ActionExecutor {
        // The initializer saw every case, so the lookup cannot fail.
        executors[type]!
    }

    /// The executor carrying out each type, by its type name: what `sequence-service` runs, for tests
    /// and the startup log.
    package var assignments: [ActionType: String] { executors.mapValues(Self.name(of:)) }

    /// The executor's type name, as logs and metrics label it.
    package static func name(of executor: any ActionExecutor) -> String { String(describing: type(of: executor)) }
}

/// A registry that would leave an action type without an executor, or with two.
package struct ExecutorRegistryError: Error, CustomStringConvertible {
    /// One action type claimed by several executors.
    package struct Conflict: Sendable, Hashable {
        package var type: ActionType
        package var executors: [String]
    }

    /// Types no executor declares.
    package var missing: [ActionType]
    /// Types more than one executor declares.
    package var shared: [Conflict]

    package var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("no executor for \(missing.map(\.rawValue).joined(separator: ", "))") }
        for conflict in shared {
            parts.append("\(conflict.type.rawValue) claimed by \(conflict.executors.joined(separator: " and "))")
        }
        return "executor registry: " + parts.joined(separator: "; ")
    }
}
