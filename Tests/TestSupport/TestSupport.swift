import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

// What every test target needs to run real services: temporary folders, free ports, a quiet logger,
// a lock-protected value, and a way to run services for the length of a test.

/// A fresh folder under the temporary directory.
package func temporaryFolder(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "kommo-agents-tests/\(name)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A logger that stays silent unless something is critical.
package let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

/// A lock-protected value shared by test tasks.
package final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    package init(_ value: Value) { mutex = Mutex(value) }
    package func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
    package var value: Value { withLock { $0 } }
}

/// A port that was free a moment ago, taken from below the kernel's ephemeral range: a port from inside
/// it can be handed to some other test's outgoing connection as its local port between this check and
/// the bind of the process that needs it (a restarted service then fails with "address in use").
package func freePort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) } ?? []
    let ephemeralLow = range.first ?? 32768
    if ephemeralLow > 12_000 {
        for _ in 0..<200 {
            let port = portCursor.withLock { cursor -> Int in
                cursor = cursor == 0 ? Int.random(in: 10_000..<ephemeralLow) : cursor + 1
                if cursor >= ephemeralLow { cursor = 10_000 }
                return cursor
            }
            if let channel = try? ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: port).wait() {
                try channel.close().wait()
                return port
            }
        }
    }
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress?.port ?? 0
    try channel.close().wait()
    return port
}

/// Where `freePort` looks next, so one test process does not hand out the same port twice.
private let portCursor = Locked(0)

/// Runs a set of services until `body` returns, then shuts them down gracefully.
package func withServices<T: Sendable>(_ services: [any Service], _ body: @Sendable () async throws -> T) async throws -> T {
    let group = ServiceGroup(services: services, logger: quietLogger)
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            try await group.run()
            return nil
        }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
            throw error
        }
    }
}

/// Waits for a child process to exit without holding a thread of the shared pool the other tests run on.
package func waitForExit(_ process: Process) async {
    while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
}
