import ServiceLifecycle
import Synchronization

// MARK: - Lanes

/// A worker loop that keeps each key's work in order: one lane per key (a lead), each running its items
/// one after another in the order they were fetched; lanes run side by side, at most `concurrency` at
/// once. An item whose key already has a lane joins it, so a slow lead holds up only itself.
///
/// The outbox dispatcher and the durable scheduler are both this loop over a different store query and a
/// different step: they hand it a `fetch` (what is due, given how many lanes are free and which keys
/// are busy) and a `work` (carry out one item).
package final class LaneRunner<Item: Sendable>: Sendable {
    /// How the loop fetches and waits.
    package struct Settings: Sendable {
        /// Lanes (keys) worked on at once; at least 1.
        package var concurrency: Int
        /// Most items one fetch asks for; `nil`: as many as there are free lanes.
        package var batchSize: Int?
        /// Free lanes needed before the next fetch: 0 fetches whenever nothing fetched is left waiting
        /// (items may join running lanes), 1 as soon as one lane ends, a quarter of `concurrency` in
        /// batches (one query per several lanes freed).
        package var refillAt: Int
        /// Longest wait for new work when nobody nudges.
        package var pollInterval: Duration

        package init(concurrency: Int, batchSize: Int? = nil, refillAt: Int = 1, pollInterval: Duration) {
            self.concurrency = max(1, concurrency)
            self.batchSize = batchSize.map { max(1, $0) }
            self.refillAt = min(max(0, refillAt), max(1, concurrency))
            self.pollInterval = pollInterval
        }
    }

    /// What a fetch is asked for.
    package struct Request: Sendable {
        /// Most items to return.
        package var limit: Int
        /// Keys with a running lane; their items would only queue behind it.
        package var busyKeys: Set<String>
    }

    package let settings: Settings
    /// Signal it when new work may be due; the loop then fetches without waiting for the poll.
    package let nudge = Nudge()
    private let key: @Sendable (Item) -> String
    /// Keys with a running lane, each with the items that joined it meanwhile.
    private let lanes = Mutex<[String: [Item]]>([:])
    private let stopping = Atomic<Bool>(false)

    /// A loop whose lanes are keyed by `key`.
    package init(settings: Settings, key: @escaping @Sendable (Item) -> String) {
        self.settings = settings
        self.key = key
    }

    /// Fetches and works until a graceful shutdown (or cancellation); then finishes the lanes already
    /// running, with the items that joined them, and returns.
    package func run(fetch: @escaping @Sendable (Request) async -> [Item], work: @escaping @Sendable (Item) async -> Void) async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                // Fetched items not yet in a lane: at most one fetch's worth, so memory does not grow with
                // what is due.
                var ready: [Item] = []
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    var waitForWork = false
                    if ready.isEmpty {
                        let (free, busy) = lanes.withLock { (settings.concurrency - $0.count, Set($0.keys)) }
                        let limit = settings.batchSize ?? free
                        if free >= settings.refillAt && limit > 0 {
                            ready = await fetch(Request(limit: limit, busyKeys: busy))
                            waitForWork = ready.count < limit
                        } else {
                            waitForWork = true
                        }
                    }
                    while let next = ready.first {
                        guard let start = place(next) else { break }
                        ready.removeFirst()
                        if start { group.addTask { await self.runLane(self.key(next), first: next, work: work) } }
                    }
                    // Items waiting for a lane, too few lanes free, or nothing more due: wait for a lane to
                    // end, a nudge, or the poll.
                    if !ready.isEmpty || waitForWork { await nudge.wait(timeout: settings.pollInterval) }
                }
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Ends ``run(fetch:work:)`` after the lanes running now.
    package func stop() {
        stopping.store(true, ordering: .relaxed)
        nudge.signal()
    }

    /// Works through `items` to the end in lanes: each key's items in the order given, at most
    /// `concurrency` keys at once. For callers that step time themselves (tests with a manual clock).
    package func drain(_ items: [Item], work: @escaping @Sendable (Item) async -> Void) async {
        var byKey: [String: [Item]] = [:]
        var order: [String] = []
        for item in items {
            let itemKey = key(item)
            if byKey[itemKey] == nil { order.append(itemKey) }
            byKey[itemKey, default: []].append(item)
        }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for laneKey in order {
                if running >= settings.concurrency { await group.next(); running -= 1 }
                running += 1
                let lane = byKey[laneKey] ?? []
                group.addTask { for item in lane { await work(item) } }
            }
        }
    }

    /// Puts `item` in a lane: `true` when it opens a new one (the caller starts it), `false` when it joined
    /// a running lane, `nil` when every lane is taken.
    private func place(_ item: Item) -> Bool? {
        let itemKey = key(item)
        return lanes.withLock { lanes in
            if lanes[itemKey] != nil {
                lanes[itemKey]!.append(item)
                return false
            }
            guard lanes.count < settings.concurrency else { return nil }
            lanes[itemKey] = []
            return true
        }
    }

    /// Runs a lane's items one after another until it is empty, then frees it.
    private func runLane(_ laneKey: String, first: Item, work: @Sendable (Item) async -> Void) async {
        var next: Item? = first
        while let item = next {
            await work(item)
            next = lanes.withLock { lanes in
                guard let queued = lanes[laneKey], !queued.isEmpty else {
                    lanes.removeValue(forKey: laneKey)
                    return nil
                }
                return lanes[laneKey]!.removeFirst()
            }
        }
        nudge.signal()
    }
}
