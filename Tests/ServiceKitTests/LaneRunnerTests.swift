import ServiceKit
import Synchronization
import Testing

/// One unit of work: a lead and its position among that lead's items.
private struct Job: Sendable, Hashable {
    var lead: String
    var seq: Int
}

/// What the work saw: the order each lead's items ran in, and how many ran at once.
private final class Journal: Sendable {
    private struct State {
        var done: [String: [Int]] = [:]
        var running: Set<String> = []
        var overlapSameLead = 0
        var inFlight = 0
        var peak = 0
    }
    private let state = Mutex(State())

    func work(_ job: Job) async {
        state.withLock { state in
            if !state.running.insert(job.lead).inserted { state.overlapSameLead += 1 }
            state.inFlight += 1
            state.peak = max(state.peak, state.inFlight)
        }
        // Uneven durations, so a lead that is fast early would overtake itself if order were not kept.
        try? await Task.sleep(for: .milliseconds((job.seq * 7 + job.lead.count * 3) % 5))
        state.withLock { state in
            state.running.remove(job.lead)
            state.inFlight -= 1
            state.done[job.lead, default: []].append(job.seq)
        }
    }

    var done: [String: [Int]] { state.withLock { $0.done } }
    var count: Int { state.withLock { $0.done.values.reduce(0) { $0 + $1.count } } }
    var peak: Int { state.withLock { $0.peak } }
    var overlapSameLead: Int { state.withLock { $0.overlapSameLead } }
}

@Suite("LaneRunner")
struct LaneRunnerTests {
    /// Ten leads, each with six items, interleaved the way a due-query returns them.
    private static let jobs: [Job] = (0..<6).flatMap { seq in (0..<10).map { Job(lead: "lead-\($0)", seq: seq) } }

    @Test("drain runs each lead's items in the order given, never two of one lead at once, at most `concurrency` leads at once")
    func drainKeepsOrder() async {
        let journal = Journal()
        let lanes = LaneRunner<Job>(settings: .init(concurrency: 3, pollInterval: .milliseconds(10)), key: \.lead)
        await lanes.drain(Self.jobs) { await journal.work($0) }
        #expect(journal.count == Self.jobs.count)
        for lead in 0..<10 { #expect(journal.done["lead-\(lead)"] == Array(0..<6)) }
        #expect(journal.overlapSameLead == 0)
        #expect(journal.peak <= 3 && journal.peak >= 2)
    }

    @Test("run fetches in batches; items of a lead already running join its lane and keep their order")
    func runKeepsOrder() async throws {
        let pending = Mutex(Self.jobs)
        let requests = Mutex<[Int]>([])
        let journal = await Self.runToEnd(.init(concurrency: 4, batchSize: 7, refillAt: 0, pollInterval: .milliseconds(5))) { request in
            requests.withLock { $0.append(request.limit) }
            return pending.withLock { pending in
                let batch = Array(pending.prefix(request.limit))
                pending.removeFirst(batch.count)
                return batch
            }
        }
        #expect(journal.overlapSameLead == 0)
        #expect(journal.peak <= 4)
        #expect(requests.withLock { $0 }.allSatisfy { $0 == 7 })
    }

    @Test("without a batch size a fetch asks for as many items as lanes are free and is told which leads are busy")
    func fetchSeesFreeLanes() async throws {
        let pending = Mutex(Self.jobs)
        let journal = await Self.runToEnd(.init(concurrency: 5, refillAt: 2, pollInterval: .milliseconds(5))) { request in
            #expect(request.limit >= 2 && request.limit <= 5)
            // Every lane is either free (and asked for) or busy (and named).
            #expect(request.limit + request.busyKeys.count == 5)
            return pending.withLock { pending in
                // Like the outbox query: the oldest item of each lead that is not busy, one per lead.
                var batch: [Job] = []
                var leads = request.busyKeys
                for job in pending where batch.count < request.limit && !leads.contains(job.lead) {
                    batch.append(job)
                    leads.insert(job.lead)
                }
                pending.removeAll { batch.contains($0) }
                return batch
            }
        }
        #expect(journal.peak <= 5)
    }

    /// Runs the loop over ``jobs`` until all are done, stops it, and checks every lead kept its order.
    private static func runToEnd(_ settings: LaneRunner<Job>.Settings,
                                 fetch: @escaping @Sendable (LaneRunner<Job>.Request) async -> [Job]) async -> Journal {
        let journal = Journal()
        let lanes = LaneRunner<Job>(settings: settings, key: \.lead)
        let loop = Task { await lanes.run(fetch: fetch) { await journal.work($0) } }
        let finished = await eventually { journal.count == jobs.count }
        lanes.stop()
        await loop.value
        #expect(finished)
        for lead in 0..<10 { #expect(journal.done["lead-\(lead)"] == Array(0..<6)) }
        return journal
    }

    @Test("stop ends the loop even when nothing is due")
    func stopsWhenIdle() async {
        let lanes = LaneRunner<Job>(settings: .init(concurrency: 2, pollInterval: .seconds(30)), key: \.lead)
        let loop = Task { await lanes.run { _ in [] } work: { _ in } }
        try? await Task.sleep(for: .milliseconds(20))
        lanes.stop()
        await loop.value
    }
}

/// Polls `condition` until it holds or five seconds pass.
private func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
