import TestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Sequences
import Synchronization
import Testing

// MARK: - A TLS server with a certificate from a test authority

/// A certificate authority and one server certificate for `name`, made with the `openssl` tool.
struct EgressTestCertificates {
    let caPEM: [UInt8]
    let certificatePEM: [UInt8]
    let keyPEM: [UInt8]

    static let openssl = "/usr/bin/openssl"

    init(name: String) throws {
        let folder = temporaryFolder("pki")
        func run(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.openssl)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestServerError.didNotStart }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=egress test CA"])
        try run(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=\(name)"])
        try Data("subjectAltName=DNS:\(name)\n".utf8).write(to: URL(fileURLWithPath: folder + "/san.ext"))
        try run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.pem", "-days", "1", "-extfile", "san.ext"])
        func read(_ file: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + file))) }
        caPEM = try read("ca.pem")
        certificatePEM = try read("server.pem")
        keyPEM = try read("server.key")
    }
}

/// Answers every request with 200 `{}` and the `Host` it received, then closes.
final class HostEchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var host = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): host = head.headers.first(name: "Host") ?? ""
        case .body: break
        case .end:
            let body = ByteBuffer(string: #"{"host": "\#(host)"}"#)
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: [
                "Content-Type": "application/json", "Content-Length": "\(body.readableBytes)", "Connection": "close",
            ])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.close(promise: nil)
        }
    }
}

func withTLSServer<T: Sendable>(_ pki: EgressTestCertificates, _ body: (Int) async throws -> T) async throws -> T {
    let configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMBytes(pki.certificatePEM).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(bytes: pki.keyPEM, format: .pem)))
    let context = try NIOSSLContext(configuration: configuration)
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { child in
            child.eventLoop.makeCompletedFuture {
                try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                try child.pipeline.syncOperations.configureHTTPServerPipeline()
                try child.pipeline.syncOperations.addHandler(HostEchoHandler())
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    do {
        let value = try await body(channel.localAddress?.port ?? 0)
        try? await channel.close()
        return value
    } catch {
        try? await channel.close()
        throw error
    }
}

// MARK: - Tests

@Suite("Egress gate over TLS")
struct EgressTLSTests {
    @Test("TLS is verified for the URL's host while the connection goes to the checked address",
          .enabled(if: FileManager.default.isExecutableFile(atPath: EgressTestCertificates.openssl), "needs openssl"))
    func tlsKeepsTheName() async throws {
        let name = "kommo-emulator.invalid"
        let pki = try EgressTestCertificates(name: name)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(pki.caPEM))
        try await withTLSServer(pki) { port in
            // The name exists in no DNS: the gate's answer (127.0.0.1) is the only way to the server, and
            // the handshake succeeds only if the certificate is checked against the name.
            let gate = EgressGate(policy: .loopbackTesting, resolver: ScriptedResolver([["127.0.0.1"]]), tlsConfiguration: tls)
            let response = try await gate.send(OutboundRequest(method: .GET, url: "https://\(name):\(port)/api/v4/account"),
                                               timeout: .seconds(30), maxResponseBytes: 1024, logger: quietLogger)
            #expect(response.status == 200)
            #expect(response.json?["host"]?.string == "\(name):\(port)")

            // The same server called by its address: the certificate does not name 127.0.0.1, so the
            // client refuses it — verification really uses the host, not whatever address was dialled.
            do {
                _ = try await gate.send(OutboundRequest(method: .GET, url: "https://127.0.0.1:\(port)/"),
                                        timeout: .seconds(20), maxResponseBytes: 1024, logger: quietLogger)
                Issue.record("a certificate for \(name) was accepted for 127.0.0.1")
            } catch let error as EgressError {
                guard case .transport(let address, let detail) = error else { Issue.record("unexpected \(error)"); return }
                #expect(detail.lowercased().contains("certificate") || detail.contains("handshake"), "\(detail)")
                #expect(address == "127.0.0.1")
            }
        }
    }
}
