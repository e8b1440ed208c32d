/// Serialises, per tenant and plan limit, the count that checks a create against the plan and the
/// create itself: two requests racing for the last free slot run one after the other, so the second
/// counts the first's resource and is refused. A create for another tenant, or of another kind, does
/// not wait.
///
/// This holds within one gateway process, which is the deployment today. Gateways run as replicas
/// (ARCHITECTURE.md, "Scaling past one machine") would need the count inside the owning service's
/// insert transaction instead, as sequence-service does for enrollments.
package actor PlanSlots {
    private var busy: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    package init() {}

    /// Runs `body` once no other body holds `key`, in arrival order.
    package func serialized<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let value = try await body()
            release(key)
            return value
        } catch {
            release(key)
            throw error
        }
    }

    private func acquire(_ key: String) async {
        if busy.insert(key).inserted { return }
        // Not cancellable: the holder's work is a few RPCs bounded by their deadlines.
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    private func release(_ key: String) {
        guard var queue = waiting[key], !queue.isEmpty else {
            busy.remove(key)
            waiting[key] = nil
            return
        }
        // The key stays busy: it passes straight to the next in line.
        let next = queue.removeFirst()
        waiting[key] = queue.isEmpty ? nil : queue
        next.resume()
    }
}
