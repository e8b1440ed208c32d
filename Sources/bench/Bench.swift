import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceKit
import Wire

/// `make bench-*`: prints measured figures as tables.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks of the wire, ingest, rules and the scheduler.",
        subcommands: [RPCBench.self, RPCBenchServer.self, RulesBench.self, IngestBench.self])
}

// MARK: - Helpers

/// Percentiles of a sample of durations in microseconds.
struct Latencies {
    var samples: [Double] = []
    mutating func add(_ duration: Duration) {
        samples.append(Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12)
    }
    func percentile(_ p: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

func table(_ title: String, _ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
    func line(_ cells: [String]) -> String {
        "| " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
    }
    print("\n\(title)")
    print(line(header))
    print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
    for row in rows { print(line(row)) }
}

func machine() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu), \(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB"
}

let benchLogger: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return logger
}()

// MARK: - RPC

/// Serves Echo on a port and prints it; `bench rpc` runs it as a separate process.
struct RPCBenchServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rpc-server", abstract: "Echo server for the RPC benchmark.")

    func run() async throws {
        let server = try await RPCServer(configuration: RPCServerConfiguration(port: 0, maximumConcurrentCalls: 4096),
                                         routes: EchoServer().routes, logger: benchLogger)
        FileHandle.standardOutput.write(Data("\(server.port)\n".utf8))
        try await server.run()
    }
}

struct RPCBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rpc", abstract: "Round trips over loopback between two processes.")

    @Option(help: "Sequential calls measured at 1 in flight.") var calls = 20_000
    @Option(help: "Seconds of the 64-in-flight run.") var seconds = 5.0
    @Option(help: "Calls in flight for the throughput run.") var inFlight = 64

    func run() async throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        server.arguments = ["rpc-server"]
        let pipe = Pipe()
        server.standardOutput = pipe
        try server.run()
        defer { server.terminate() }
        guard let line = String(data: pipe.fileHandleForReading.availableData, encoding: .utf8),
              let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ValidationError("the echo server did not start")
        }
        let connection = RPCConnection(host: "127.0.0.1", port: port, logger: benchLogger)
        let client = EchoClient(connection: connection)
        let request: PB.EchoRequest = {
            var request = PB.EchoRequest()
            request.payload = Array(repeating: 0x61, count: 190)
            return request
        }()
        let size = request.serializedBytes().count
        for _ in 0..<2_000 { _ = try await client.echo(request) }

        var single = Latencies()
        for _ in 0..<calls {
            let started = ContinuousClock.now
            _ = try await client.echo(request)
            single.add(ContinuousClock.now - started)
        }

        let stop = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let results = try await withThrowingTaskGroup(of: (Int, Latencies).self) { group in
            for _ in 0..<inFlight {
                group.addTask {
                    var latencies = Latencies()
                    var count = 0
                    while ContinuousClock.now < stop {
                        let started = ContinuousClock.now
                        _ = try await client.echo(request)
                        latencies.add(ContinuousClock.now - started)
                        count += 1
                    }
                    return (count, latencies)
                }
            }
            var total = 0
            var all = Latencies()
            for try await (count, latencies) in group {
                total += count
                all.samples += latencies.samples
            }
            return (total, all)
        }
        let rate = Double(results.0) / seconds
        table("RPC over loopback (\(machine())), request \(size) B, response \(size - 3) B, separate client and server processes",
              ["case", "calls", "p50 µs", "p99 µs", "calls/s"],
              [["1 in flight", "\(calls)", String(format: "%.0f", single.percentile(0.5)), String(format: "%.0f", single.percentile(0.99)),
                String(format: "%.0f", Double(calls) / (single.samples.reduce(0, +) / 1e6))],
               ["\(inFlight) in flight, one connection", "\(results.0)", String(format: "%.0f", results.1.percentile(0.5)),
                String(format: "%.0f", results.1.percentile(0.99)), String(format: "%.0f", rate)]])
        print("goals: p50 ≤ 100 µs at 1 in flight; ≥ 40,000 calls/s with p99 ≤ 2,000 µs at 64 in flight")
        connection.close()
    }
}

// MARK: - Rules engine

struct RulesBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rules", abstract: "Rule evaluations per second per core.")

    func run() async throws {
        var rows: [[String]] = []
        for count in [10, 100, 1000] {
            let workload = RuleEngineBench.make(ruleCount: count)
            _ = workload.run()
            var runs = 0
            var planned = 0
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .seconds(2) {
                planned &+= workload.run()
                runs += 1
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let events = Double(runs * workload.eventCount)
            let evaluations = events * Double(workload.matchingRulesPerEvent)
            rows.append(["\(count)", String(format: "%.0f", events / seconds), String(format: "%.1f", workload.matchingRulesPerEvent),
                         String(format: "%.0f", evaluations / seconds), String(format: "%.1f", seconds / events * 1e6), "\(planned % 10)"])
        }
        table("Rule engine, one core (\(machine()))", ["rules/tenant", "events/s", "matching rules/event", "rule evaluations/s", "µs/event", "-"], rows)
        print("goal: ≥ 100,000 rule evaluations/s per core")
    }
}

struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Sustained webhook intake through the gateway.")
    func run() async throws {
        print("bench ingest: see README (not measured in this build)")
    }
}
