import TestSupport
import Domain
import Foundation
import Sequences
import ServiceKit
import Testing
import Wire

/// The registry sequence-service starts with: every action type carried out by exactly one executor, and
/// a registry that would leave a type without one, or with two, refused.
@Suite struct ExecutorRegistryTests {
    /// The executors the composition root registers, over a temporary store.
    private func productionExecutors() throws -> [any ActionExecutor] {
        let store = SequenceStore(db: try StoreFactory.temporary(migrator: SequenceStore.migrator))
        let rules = RulesClient(connection: RPCConnection(host: "127.0.0.1", port: 1, security: TestPKI.security("sequence-service"),
                                                          serverName: "rules-service", logger: quietLogger))
        return ExecutorRegistry.executors(store: store, egress: EgressGate(policy: .loopbackTesting), rules: rules,
                                          settings: ExecutorSettings(), clock: SystemClock(), metrics: ExecutorMetrics())
    }

    @Test func everyActionTypeHasExactlyOneExecutor() throws {
        let executors = try productionExecutors()
        var claims: [ActionType: [String]] = [:]
        for executor in executors {
            for type in executor.actionTypes { claims[type, default: []].append(ExecutorRegistry.name(of: executor)) }
        }
        for type in ActionType.allCases {
            #expect(claims[type]?.count == 1, "\(type.rawValue) is claimed by \(claims[type] ?? [])")
        }
        let registry = try ExecutorRegistry(executors)
        #expect(Set(registry.assignments.keys) == Set(ActionType.allCases))
        #expect(registry.assignments[.createTask] == "KommoTaskExecutor")
        #expect(registry.assignments[.changeStage] == "KommoLeadExecutor")
        #expect(registry.assignments[.kommoAction] == "KommoOperationExecutor")
        #expect(registry.assignments[.sendMessage] == "ChatMessageExecutor")
        #expect(registry.assignments[.aiResponse] == "AIReplyExecutor")
        #expect(registry.assignments[.webhook] == "WebhookExecutor")
        #expect(registry.assignments[.startSequence] == "SequenceCommandExecutor")
        #expect(registry.assignments[.stopSequence] == "SequenceCommandExecutor")
        // Each family is its own executor: no executor carries out most of the types.
        #expect(executors.count >= 6)
        #expect(executors.allSatisfy { $0.actionTypes.count <= 5 })
    }

    @Test func aTypeWithoutAnExecutorIsRefused() throws {
        let executors = try productionExecutors().filter { !($0 is WebhookExecutor) }
        let error = try #require(throws: ExecutorRegistryError.self) { try ExecutorRegistry(executors) }
        #expect(error.missing == [.webhook])
        #expect(error.shared.isEmpty)
        #expect(error.description == "executor registry: no executor for webhook")
    }

    @Test func aTypeWithTwoExecutorsIsRefused() throws {
        let store = SequenceStore(db: try StoreFactory.temporary(migrator: SequenceStore.migrator))
        let executors = try productionExecutors() + [SequenceCommandExecutor(store: store, clock: SystemClock())]
        let error = try #require(throws: ExecutorRegistryError.self) { try ExecutorRegistry(executors) }
        #expect(error.missing.isEmpty)
        #expect(Set(error.shared.map(\.type)) == [.startSequence, .stopSequence])
        #expect(error.shared.allSatisfy { $0.executors == ["SequenceCommandExecutor", "SequenceCommandExecutor"] })
        #expect(error.description.contains("start_sequence claimed by SequenceCommandExecutor and SequenceCommandExecutor"))
    }
}
