import ArgumentParser
import Foundation

// MARK: - Figures and reports

/// One measured value of a benchmark: `name` is stable across runs, so runs of the suite can be compared.
struct Figure: Codable, Sendable {
    var name: String
    var unit: String
    var value: Double
}

/// What one run of a benchmark measured: its figures, and the tables and lines it prints, in order.
struct BenchReport {
    enum Block {
        case table(title: String, header: [String], rows: [[String]])
        case line(String)
    }

    var figures: [Figure] = []
    var blocks: [Block] = []

    mutating func add(_ name: String, _ unit: String, _ value: Double) {
        figures.append(Figure(name: name, unit: unit, value: value))
    }

    mutating func table(_ title: String, _ header: [String], _ rows: [[String]]) {
        blocks.append(.table(title: title, header: header, rows: rows))
    }

    mutating func line(_ text: String) {
        blocks.append(.line(text))
    }

    func print() {
        for block in blocks {
            switch block {
            case .table(let title, let header, let rows): printTable(title, header, rows)
            case .line(let text): Swift.print(text)
            }
        }
        // Flushed now, so a suite piped to a file or `tee` shows how far it got.
        fflush(nil)
    }
}

/// A benchmark the suite runs: a command whose measurement returns a report rather than only printing it.
protocol Benchmark: AsyncParsableCommand {
    func measure() async throws -> BenchReport
}

extension Benchmark {
    func run() async throws {
        try await measure().print()
    }
}

// MARK: - The suite

/// `make bench`: every benchmark, several runs each, into `results.json` and `results.md`.
struct BenchSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite", abstract: "Every benchmark, several runs each; writes results.json and results.md.")

    @Option(help: "Runs of each benchmark.") var runs = 3
    @Flag(help: "Shortened durations and smaller sizes, for a run of a couple of minutes.") var quick = false
    @Option(help: "Folder the results are written to.") var output = "bench-results"
    @Option(help: "Benchmarks to run, comma-separated.") var only = "rpc,rules,ingest,scheduler,kommo,fairness,journey,codec,kb,scale"

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() async throws {
        let arguments = quick ? ["--quick"] : []
        let benchmarks: [(String, any Benchmark)] = [
            ("rpc", try RPCBench.parse(arguments)),
            ("rules", try RulesBench.parse(arguments)),
            ("ingest", try IngestBench.parse(arguments)),
            ("scheduler", try SchedulerBench.parse(arguments)),
            ("kommo", try KommoBench.parse(arguments)),
            ("fairness", try FairnessBench.parse(arguments)),
            ("journey", try JourneyBench.parse(arguments)),
            ("codec", try CodecBench.parse(arguments)),
            ("kb", try KnowledgeBench.parse(arguments)),
            ("scale", try ScaleBench.parse(arguments)),
        ]
        let wanted = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let started = Date()
        var results: [SuiteResult] = []
        var failures: [String] = []
        for (name, benchmark) in benchmarks where wanted.contains(name) {
            for run in 1...runs {
                Swift.print("\n== bench \(name), run \(run) of \(runs)\(quick ? " (quick)" : "")")
                fflush(nil)
                let runStart = ContinuousClock.now
                do {
                    let report = try await benchmark.measure()
                    report.print()
                    results.append(SuiteResult(benchmark: name, run: run, figures: report.figures))
                } catch {
                    failures.append("\(name) run \(run): \(error)")
                    Swift.print("bench \(name) run \(run) failed: \(error)")
                }
                Swift.print(String(format: "(bench %@ run %d took %.1f s)", name, run, (ContinuousClock.now - runStart).fractionalSeconds))
            }
        }
        let document = SuiteDocument(results: results, runs: runs, quick: quick, started: started, finished: Date(),
                                     machine: MachineDescription.current(dataFolder: NSTemporaryDirectory()), failures: failures)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(document).write(to: URL(fileURLWithPath: output + "/results.json"))
        try Data(document.markdown.utf8).write(to: URL(fileURLWithPath: output + "/results.md"))
        Swift.print("\n\(document.figures.count) figures from \(results.count) benchmark runs written to \(output)/results.json and \(output)/results.md")
        if !failures.isEmpty {
            throw ValidationError("\(failures.count) benchmark runs failed: " + failures.joined(separator: "; "))
        }
    }
}

/// The figures of one run of one benchmark.
struct SuiteResult {
    var benchmark: String
    var run: Int
    var figures: [Figure]
}

/// A figure over every run that measured it.
struct SummarizedFigure: Codable {
    var benchmark: String
    var name: String
    var unit: String
    var median: Double
    var min: Double
    var max: Double
    /// The value of each run, in run order.
    var runs: [Double]
}

/// `results.json`.
struct SuiteDocument: Encodable {
    var machine: MachineDescription
    var started: Date
    var finished: Date
    var runsPerBenchmark: Int
    var quick: Bool
    var figures: [SummarizedFigure]
    var failures: [String]

    init(results: [SuiteResult], runs: Int, quick: Bool, started: Date, finished: Date, machine: MachineDescription, failures: [String]) {
        self.machine = machine
        self.started = started
        self.finished = finished
        self.runsPerBenchmark = runs
        self.quick = quick
        self.failures = failures
        // First-seen order, so the table reads as the benchmarks print.
        var order: [String] = []
        var grouped: [String: (benchmark: String, unit: String, values: [Double])] = [:]
        for result in results {
            for figure in result.figures {
                let key = result.benchmark + "\u{0}" + figure.name
                if grouped[key] == nil {
                    order.append(key)
                    grouped[key] = (result.benchmark, figure.unit, [])
                }
                grouped[key]!.values.append(figure.value)
            }
        }
        figures = order.map { key in
            let entry = grouped[key]!
            let sorted = entry.values.sorted()
            let middle = sorted.count / 2
            let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
            return SummarizedFigure(benchmark: entry.benchmark, name: String(key.split(separator: "\u{0}", maxSplits: 1).last ?? ""),
                                    unit: entry.unit, median: median, min: sorted.first!, max: sorted.last!, runs: entry.values)
        }
    }

    var markdown: String {
        func number(_ value: Double) -> String {
            if value == value.rounded(), abs(value) < 1e15 { return String(format: "%.0f", value) }
            let magnitude = abs(value)
            return String(format: magnitude >= 100 ? "%.0f" : magnitude >= 10 ? "%.1f" : magnitude >= 1 ? "%.2f" : "%.3f", value)
        }
        let formatter = ISO8601DateFormatter()
        var text = "# Benchmark results\n\n"
        text += "\(formatter.string(from: started)), \(runsPerBenchmark) run\(runsPerBenchmark == 1 ? "" : "s") of each benchmark"
        text += quick ? " (quick: shortened durations and sizes)" : ""
        text += String(format: ", %.0f s in all.\n\n", finished.timeIntervalSince(started))
        text += "Machine: \(machine.cores) cores, \(machine.cpu), \(machine.memory), disk \(machine.disk), \(machine.os); \(machine.swift.split(separator: "\n").first ?? "").\n\n"
        text += "| benchmark | figure | unit | median | min | max | runs |\n|---|---|---|---:|---:|---:|---:|\n"
        for figure in figures {
            let name = figure.name.replacingOccurrences(of: "|", with: "\\|")
            text += "| \(figure.benchmark) | \(name) | \(figure.unit) | \(number(figure.median)) | \(number(figure.min)) | \(number(figure.max)) | \(figure.runs.count) |\n"
        }
        if !failures.isEmpty {
            text += "\nFailed runs:\n\n" + failures.map { "- \($0)\n" }.joined()
        }
        return text
    }
}

// MARK: - The machine

/// What the figures were measured on.
struct MachineDescription: Codable {
    var cores: Int
    var cpu: String
    var memory: String
    /// The device holding the benchmarks' data folder, its file system and, where the kernel says, its model and kind.
    var disk: String
    var dataFolder: String
    var swift: String
    var os: String

    static func current(dataFolder: String) -> MachineDescription {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let cpu = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = String(format: "%.1f GiB", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)
        let release = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("PRETTY_NAME=") }?.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) ?? "unknown OS"
        let kernel = ((try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let swift = (output(of: ["swift", "--version"]) ?? "swift --version failed").trimmingCharacters(in: .whitespacesAndNewlines)
        return MachineDescription(cores: ProcessInfo.processInfo.activeProcessorCount, cpu: cpu, memory: memory, disk: disk(of: dataFolder),
                                  dataFolder: dataFolder, swift: swift, os: kernel.isEmpty ? release : "\(release), Linux \(kernel)")
    }

    /// `df -PT` names the device and file system; `/sys/class/block` its model and whether it rotates.
    static func disk(of folder: String) -> String {
        guard let df = output(of: ["df", "-PT", folder]), let line = df.split(separator: "\n").dropFirst().first else { return "unknown" }
        let columns = line.split(separator: " ", omittingEmptySubsequences: true)
        guard columns.count >= 3 else { return "unknown" }
        let device = String(columns[0]), fileSystem = String(columns[1])
        let size = Double(columns[2]).map { String(format: "%.0f GiB", $0 / 1_048_576) }
        var parts = ["\(device) (\(fileSystem)\(size.map { ", " + $0 } ?? ""))"]
        if device.hasPrefix("/dev/") {
            // A partition's model and kind are its parent disk's.
            var name = (try? FileManager.default.destinationOfSymbolicLink(atPath: device)).map { URL(fileURLWithPath: $0).lastPathComponent }
                ?? String(device.dropFirst(5))
            if !FileManager.default.fileExists(atPath: "/sys/class/block/\(name)/queue"),
               let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/class/block/\(name)") {
                name = URL(fileURLWithPath: link).deletingLastPathComponent().lastPathComponent
            }
            func read(_ path: String) -> String? {
                (try? String(contentsOfFile: "/sys/class/block/\(name)/\(path)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let model = read("device/model"), !model.isEmpty { parts.append(model) }
            // The kernel's flag: virtual disks often say rotational whatever backs them.
            if let rotational = read("queue/rotational") { parts.append(rotational == "1" ? "rotational per the kernel" : "non-rotational per the kernel") }
        }
        return parts.joined(separator: ", ")
    }

    /// Standard output of a command found on PATH, or nil when it cannot be run or fails.
    static func output(of command: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
