import TestSupport
import AsyncHTTPClient
import Foundation
import Sequences
import Testing

@Suite("Per-account rate limit")
struct KommoRateLimitTests {
    @Test("the window admits a burst of `limit`; a token returns one window after its request completed")
    func windowArithmetic() {
        var window = RequestWindow(limit: 3, window: .seconds(1))
        #expect((0..<3).map { _ in window.admit(at: .zero) } == [.admitted, .admitted, .admitted])
        // All three in flight: nothing known yet, so look again soon.
        #expect(window.admit(at: .zero) == .retry(at: .milliseconds(50)))
        window.release(at: .milliseconds(100))
        window.release(at: .milliseconds(200))
        #expect(window.admit(at: .milliseconds(300)) == .retry(at: .milliseconds(1100)))
        #expect(window.admit(at: .milliseconds(1099)) == .retry(at: .milliseconds(1100)),
                "a token spent by a request that completed at 100 ms is still in its window at 1099 ms")
        #expect(window.admit(at: .milliseconds(1100)) == .admitted)
        #expect(window.admit(at: .milliseconds(1150)) == .retry(at: .milliseconds(1200)))
        window.pause(until: .seconds(15))
        #expect(window.admit(at: .seconds(11)) == .retry(at: .seconds(15)))
    }

    @Test("100 concurrent actions never exceed the limit in any window (scaled window)")
    func burstOfHundred() async throws {
        // 7 per 250 ms keeps the test at a few seconds; the admission arithmetic is the same as 7 per 1 s.
        let limit = KommoRateLimiter.Configuration(requestsPerWindow: 7, window: .milliseconds(250), safetyMargin: .zero)
        let emulator = KommoEmulator()
        try await withTestServer(emulator.handle) { port in
            try await withHTTPClient { http in
                let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(configuration: limit),
                                         configuration: .init(retry: fastRetry))
                let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)", accessToken: emulator.token))
                let outcomes = await withTaskGroup(of: ExecutionOutcome.self, returning: [ExecutionOutcome].self) { group in
                    for index in 0..<100 {
                        group.addTask {
                            await client.completeTask(id: Int64(index + 1), resultText: nil, account: account, logger: quietLogger).outcome
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.count == 100)
                #expect(outcomes.allSatisfy { $0 == .succeeded })
            }
        }
        let arrivals = emulator.received.map(\.at)
        #expect(arrivals.count == 100)
        #expect(maxInAnyWindow(arrivals, window: .milliseconds(250)) <= 7)
        // And it is a limit, not a stall: 100 requests at 7 per 250 ms take about 4 s; a stall would
        // mean a 429-style pause of minutes. The bound leaves room for a loaded machine.
        let span = try #require(arrivals.max()) - #require(arrivals.min())
        #expect(span < .seconds(30))
    }

    @Test("the default limit keeps any 1-second window at 7 requests or fewer")
    func defaultLimitPerSecond() async throws {
        let emulator = KommoEmulator()
        try await withTestServer(emulator.handle) { port in
            try await withHTTPClient { http in
                let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(), configuration: .init(retry: fastRetry))
                let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)", accessToken: emulator.token))
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<22 {
                        group.addTask {
                            _ = await client.completeTask(id: Int64(index + 1), resultText: nil, account: account, logger: quietLogger)
                        }
                    }
                }
            }
        }
        let arrivals = emulator.received.map(\.at)
        #expect(arrivals.count == 22)
        #expect(maxInAnyWindow(arrivals, window: .seconds(1)) <= 7)
        #expect(maxInAnyWindow(arrivals, window: .milliseconds(900)) == 7, "a full burst goes out without waiting for the next window")
    }

    @Test("accounts do not share an allowance")
    func perAccount() async throws {
        let first = KommoEmulator()
        let second = KommoEmulator()
        try await withTestServer(first.handle) { firstPort in
            try await withTestServer(second.handle) { secondPort in
                try await withHTTPClient { http in
                    // A 20 s window: had the accounts shared one allowance, the second burst would wait ~20 s.
                    let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(configuration: .init(window: .seconds(20))),
                                             configuration: .init(retry: fastRetry))
                    let accounts = [
                        try #require(KommoConnection(baseURL: "http://127.0.0.1:\(firstPort)", accessToken: first.token)),
                        try #require(KommoConnection(baseURL: "http://127.0.0.1:\(secondPort)", accessToken: second.token)),
                    ]
                    let clock = ContinuousClock()
                    let start = clock.now
                    await withTaskGroup(of: Void.self) { group in
                        for account in accounts {
                            for index in 0..<7 {
                                group.addTask {
                                    _ = await client.completeTask(id: Int64(index + 1), resultText: nil, account: account, logger: quietLogger)
                                }
                            }
                        }
                    }
                    #expect(clock.now - start < .seconds(15), "14 requests over two accounts need no waiting")
                }
            }
        }
        #expect(first.received.count == 7)
        #expect(second.received.count == 7)
    }

    @Test("a 429 pauses every caller of the account")
    func pauseOnTooManyRequests() async throws {
        let emulator = KommoEmulator()
        try await withTestServer(emulator.handle) { port in
            try await withHTTPClient { http in
                let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(), configuration: .init(retry: fastRetry))
                let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)", accessToken: emulator.token))
                emulator.enqueue(.tooManyRequests(retryAfter: 1))
                let first = await client.addTags(leadID: 1, ["a"], account: account, logger: quietLogger)
                #expect(first.attempts == 2)
                let second = await client.addTags(leadID: 2, ["b"], account: account, logger: quietLogger)
                #expect(second.outcome == .succeeded)
            }
        }
        let arrivals = emulator.received.map(\.at)
        #expect(arrivals.count == 3)
        #expect(arrivals[1] - arrivals[0] >= .milliseconds(950))
    }
}
