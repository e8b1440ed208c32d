import Basics
import TestSupport
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix
import Sequences
import Synchronization
import Testing
import Wire

// MARK: - Test doubles of the outside

/// Counts what it is told about, from any thread.
final class Tally: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add() { value.withLock { $0 += 1 } }
}

/// Runs `body` with the port of a TCP listener on 127.0.0.1 that counts the connections it accepts and
/// closes each at once: a count of 0 proves that nothing left, TLS or not.
func withConnectionCounter<T: Sendable>(_ body: (Int, Tally) async throws -> T) async throws -> T {
    let tally = Tally()
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { child in
            tally.add()
            return child.close()
        }
        .bind(host: "127.0.0.1", port: 0).get()
    do {
        let value = try await body(channel.localAddress?.port ?? 0, tally)
        try? await channel.close()
        return value
    } catch {
        try? await channel.close()
        throw error
    }
}

/// A resolver that gives the next of its prepared answers on each lookup: a rebinding DNS server.
final class ScriptedResolver: EgressResolver {
    private let answers: Mutex<[[IPAddress]]>
    private let lookups = Mutex<[String]>([])

    init(_ answers: [[String]]) {
        self.answers = Mutex(answers.map { $0.compactMap(IPAddress.init) })
    }

    var names: [String] { lookups.withLock { $0 } }

    func resolve(host: String) async throws -> [IPAddress] {
        lookups.withLock { $0.append(host) }
        return answers.withLock { list in list.count > 1 ? list.removeFirst() : list.first ?? [] }
    }
}

private func get(_ url: String) -> OutboundRequest { OutboundRequest(method: .GET, url: url) }

private func refusal(_ gate: EgressGate, _ url: String) async -> String? {
    do {
        _ = try await gate.target(for: url)
        return nil
    } catch EgressError.refused(let reason) {
        return reason
    } catch {
        return "other error: \(error)"
    }
}

// MARK: - Address rules

@Suite("Egress gate")
struct EgressGateTests {
    let production = EgressGate(policy: EgressPolicy())

    @Test("the IANA special-purpose registries, multicast and metadata addresses are refused")
    func specialPurposeAddresses() async throws {
        let refused = [
            "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.100.100.200", "127.0.0.1", "127.255.0.9", "169.254.169.254",
            "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.0.192", "192.0.2.1", "192.31.196.1", "192.52.193.1",
            "192.88.99.1", "192.168.0.1", "192.175.48.1", "198.18.0.1", "198.19.255.254", "198.51.100.7",
            "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "168.63.129.16",
            "::", "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
            "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b::808:808", "64:ff9b:1::1", "100::1", "2001::1",
            "2001:2::1", "2001:20::1", "2001:db8::1", "2002:7f00:1::", "2002:808:808::1", "2620:4f:8000::1",
            "3fff::1", "5f00::1", "fc00::1", "fd00:ec2::254", "fdff::1", "fe80::1", "fec0::1", "ff02::1", "4000::1",
        ]
        for text in refused {
            let address = try #require(IPAddress(text), "\(text)")
            #expect(SpecialAddresses.refusal(for: address) != nil, "\(text)")
            #expect(await refusal(production, "https://\(address.urlHost)/")?.contains("not allowed") == true, "\(text)")
        }
        for text in ["8.8.8.8", "93.184.216.34", "172.15.0.1", "172.32.0.1", "192.169.0.1", "198.20.0.1", "169.253.1.1",
                     "2606:2800:220:1::1", "2001:4860:4860::8888", "::ffff:8.8.8.8"] {
            let address = try #require(IPAddress(text))
            #expect(SpecialAddresses.refusal(for: address) == nil, "\(text)")
            #expect(await refusal(production, "https://\(address.urlHost)/") == nil, "\(text)")
        }
        #expect(await refusal(production, "ftp://example.com/") == "not an http(s) URL")
        #expect(await refusal(production, "unix:///var/run/docker.sock") == "not an http(s) URL")
    }

    @Test("this host's own interface addresses are refused")
    func ownAddresses() async throws {
        let own = SpecialAddresses.localAddresses()
        #expect(!own.isEmpty)
        for address in own {
            #expect(await refusal(production, "http://\(address.urlHost):80/") != nil, "\(address)")
        }
        // An interface on a public address (a host with a public IP) is refused for being this host's.
        let publicHost = try #require(IPAddress("93.184.216.34"))
        let gate = EgressGate(policy: EgressPolicy(), localAddresses: { [publicHost] })
        #expect(await refusal(gate, "https://93.184.216.34/")?.contains("an address of this host") == true)
    }

    @Test("every answer of a name is checked: one private answer refuses the name")
    func everyAnswerChecked() async throws {
        let gate = EgressGate(policy: EgressPolicy(), resolver: ScriptedResolver([["93.184.216.34", "10.0.0.5"]]))
        #expect(await refusal(gate, "https://mixed.example/")?.contains("10.0.0.5") == true)
    }

    // MARK: Rebinding

    @Test("a name that resolves to a public and then to a loopback address: the checked address is dialled, the second answer is refused")
    func rebinding() async throws {
        try await withConnectionCounter { port, connections in
            let resolver = ScriptedResolver([["93.184.216.34"], ["127.0.0.1"]])
            let gate = EgressGate(policy: EgressPolicy(), resolver: resolver, localAddresses: { [] })
            // First lookup: public. The connection goes to that address (unreachable here), not to a fresh
            // lookup of the name — the client never resolves it again.
            do {
                _ = try await gate.send(get("http://rebind.example:\(port)/"), timeout: .seconds(2), maxResponseBytes: 1024, logger: quietLogger)
                Issue.record("93.184.216.34 answered in a sandbox without a route to it")
            } catch let error as EgressError {
                switch error {
                case .timedOut(let address), .transport(let address, _): #expect(address == "93.184.216.34", "\(error)")
                default: Issue.record("unexpected \(error)")
                }
            }
            // Second lookup: loopback, refused before any connection.
            do {
                _ = try await gate.send(get("http://rebind.example:\(port)/"), timeout: .seconds(2), maxResponseBytes: 1024, logger: quietLogger)
                Issue.record("the loopback answer was not refused")
            } catch EgressError.refused(let reason) {
                #expect(reason.contains("resolves to 127.0.0.1"), "\(reason)")
            }
            #expect(resolver.names == ["rebind.example", "rebind.example"], "one lookup per request, the gate's own")
            #expect(connections.count == 0, "nothing reached loopback")
        }
    }

    @Test("the dialled address is the checked one, while Host (and TLS) keep the name")
    func dialsTheCheckedAddress() async throws {
        let seen = Mutex<[String?]>([])
        try await withTestServer({ request, _ in
            // HTTPTypes carries Host as the request's authority.
            seen.withLock { $0.append(request.head.authority) }
            return Reply.json(200, #"{"ok": true}"#)
        }) { port in
            // `kommo-emulator.invalid` exists in no DNS: only the gate's answer can take the request anywhere.
            let gate = EgressGate(policy: .loopbackTesting, resolver: ScriptedResolver([["127.0.0.1"]]))
            let response = try await gate.send(get("http://kommo-emulator.invalid:\(port)/api/v4/account"), timeout: .seconds(10),
                                               maxResponseBytes: 1024, logger: quietLogger)
            #expect(response.status == 200)
            #expect(seen.withLock { $0 } == ["kommo-emulator.invalid:\(port)"])
        }
    }

    // MARK: Bounds

    @Test("redirects are not followed, an oversized answer is cut, a slow answer is bounded in time")
    func bounds() async throws {
        let hits = Tally()
        try await withTestServer({ request, _ in
            switch request.uri.path {
            case "/redirect": return Reply.json(302, "{}", headers: [("Location", "/target")])
            case "/target": hits.add(); return Reply.json(200, "{}")
            case "/huge": return Reply.bytes(200, count: 1 << 20)
            default:
                return Response(status: .ok, body: ResponseBody { writer in
                    for _ in 0..<600 {
                        try await writer.write(ByteBuffer(string: "x"))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                })
            }
        }) { port in
            let gate = EgressGate(policy: .loopbackTesting)
            let redirect = try await gate.send(get("http://127.0.0.1:\(port)/redirect"), timeout: .seconds(10), maxResponseBytes: 1024, logger: quietLogger)
            #expect(redirect.status == 302)
            #expect(hits.count == 0)

            let huge = try await gate.send(get("http://127.0.0.1:\(port)/huge"), timeout: .seconds(10), maxResponseBytes: 1000, logger: quietLogger)
            #expect(huge.truncated)
            #expect(huge.body.count == 1000)

            let start = ContinuousClock.now
            do {
                _ = try await gate.send(get("http://127.0.0.1:\(port)/slow"), timeout: .milliseconds(700), maxResponseBytes: 1 << 20, logger: quietLogger)
                Issue.record("a 60-second answer completed")
            } catch let error as EgressError {
                #expect(error == .timedOut(address: "127.0.0.1"))
            }
            // The bound is 0.7 s; the answer would take 60 s. The margin is for a loaded machine.
            #expect(ContinuousClock.now - start < .seconds(15))
        }
    }

    @Test("the operator setting lets loopback through; without it loopback is refused before connecting")
    func operatorSetting() async throws {
        try await withTestServer({ _, _ in Reply.json(200, "{}") }) { port in
            let allowed = try await EgressGate(policy: EgressPolicy(allowPrivateTargets: true))
                .send(get("http://127.0.0.1:\(port)/"), timeout: .seconds(10), maxResponseBytes: 1024, logger: quietLogger)
            #expect(allowed.status == 200)
            #expect(await refusal(production, "http://127.0.0.1:\(port)/")?.contains("loopback") == true)
        }
    }
}

// MARK: - Executors

@Suite("Egress in the executors")
struct EgressExecutorTests {
    @Test("a Kommo base URL off Kommo's domains, stored before the rule, gets no token: nothing is sent")
    func storedBaseURLOffKommo() async throws {
        try await withConnectionCounter { port, connections in
            // The operator allows private targets but not this host as a Kommo base URL.
            let client = KommoClient(egress: EgressGate(policy: EgressPolicy(allowPrivateTargets: true)), rateLimiter: KommoRateLimiter(),
                                     configuration: .init(retry: fastRetry))
            let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)", accessToken: "tenant-token"))
            let read = await client.getAccount(account: account, logger: quietLogger)
            #expect(read.result.outcome == .failedPermanent)
            #expect(read.result.attempts == 0)
            #expect(read.result.detail?.contains("nothing was sent") == true, "\(read.result.detail ?? "")")
            #expect(connections.count == 0)
        }
    }

    @Test("a refused target is not retried")
    func refusalIsPermanent() async throws {
        let client = KommoClient(egress: EgressGate(policy: EgressPolicy(allowedHosts: ["127.0.0.1"])), rateLimiter: KommoRateLimiter(),
                                 configuration: .init(retry: fastRetry))
        let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:9", accessToken: "tenant-token"))
        let read = await client.getAccount(account: account, logger: quietLogger)
        #expect(read.result.outcome == .failedPermanent)
        #expect(read.result.attempts == 1)
        #expect(read.result.detail?.contains("refused by the egress gate") == true, "\(read.result.detail ?? "")")
    }
}

// MARK: - Through sequence-service

@Suite("Egress through sequence-service")
struct EgressServiceTests {
    /// Production's address rules, with loopback and the metadata host accepted as Kommo base URLs so
    /// that the request-time check is what stands between them and the token.
    static let policy = EgressPolicy(allowedHosts: ["127.0.0.1", "169.254.169.254", "::ffff:127.0.0.1"])

    @Test("\"test connection\" to 127.0.0.1, 169.254.169.254 and [::ffff:127.0.0.1] is refused without a request leaving")
    func testConnectionRefused() async throws {
        try await withConnectionCounter { port, connections in
            try await SequenceHarness.run(egress: Self.policy) { service in
                let acme = service.tenant("acme")
                for base in ["https://127.0.0.1:\(port)", "http://127.0.0.1:\(port)", "http://169.254.169.254",
                             "https://[::ffff:127.0.0.1]:\(port)"] {
                    try await acme.updateIntegrations(#"{"kommo": {"base_url": "\#(base)", "access_token": "tenant-token"}}"#)
                    let answer = try await service.client.testKommoConnection(PB.DocumentRef(), options: acme.options)
                    let json = try #require(JSONValue(parsing: Array(answer.json.utf8)))
                    #expect(json["ok"]?.bool == false, "\(base)")
                    #expect(json["status"] == nil, "\(base): no HTTP status, since nothing was sent")
                    #expect(json["detail"]?.string?.contains("refused by the egress gate") == true, "\(base): \(json)")
                }
            }
            #expect(connections.count == 0)
        }
    }

    @Test("Kommo and Chats API base URLs must be https on Kommo's domains; the AI endpoint https and past the gate")
    func baseURLValidation() async throws {
        try await SequenceHarness.run(egress: EgressPolicy()) { service in
            let acme = service.tenant("acme")
            let refused: [(String, String)] = [
                (#"{"kommo": {"base_url": "http://evil.example"}}"#, "kommo.base_url"),
                (#"{"kommo": {"base_url": "https://evil.example"}}"#, "kommo.base_url"),
                (#"{"kommo": {"base_url": "https://kommo.com.evil.example"}}"#, "kommo.base_url"),
                (#"{"kommo": {"base_url": "http://acme.kommo.com"}}"#, "kommo.base_url"),
                (#"{"kommo": {"base_url": "https://127.0.0.1"}}"#, "kommo.base_url"),
                (#"{"messages": {"chats_api": {"base_url": "https://169.254.169.254"}}}"#, "messages.chats_api.base_url"),
                (#"{"ai": {"base_url": "http://api.example"}}"#, "ai.base_url"),
                (#"{"ai": {"base_url": "https://127.0.0.1:8080"}}"#, "ai.base_url"),
                (#"{"ai": {"base_url": "https://[64:ff9b::7f00:1]"}}"#, "ai.base_url"),
                (#"{"ai": {"base_url": "https://198.18.0.1"}}"#, "ai.base_url"),
            ]
            for (patch, field) in refused {
                let error = await rpcFailure { try await acme.updateIntegrations(patch) }
                #expect(error?.code == .invalidArgument, "\(patch)")
                #expect(error?.violations.map(\.field) == [field], "\(patch): \(error?.violations ?? [])")
            }
            for patch in [#"{"kommo": {"base_url": "https://sub.kommo.com"}}"#, #"{"kommo": {"base_url": "https://acme.amocrm.ru"}}"#,
                          #"{"messages": {"chats_api": {"base_url": "https://amojo.kommo.com"}}}"#,
                          #"{"ai": {"base_url": "https://93.184.216.34"}}"#] {
                try await acme.updateIntegrations(patch)
            }
        }
    }
}
