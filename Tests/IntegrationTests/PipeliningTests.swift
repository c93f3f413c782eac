import Foundation
import XCTest

/// Pipelining (RFC 9112 section 9.3.2): requests sent back to back in one write are all
/// answered, in order.
class PipeliningTestCase: ServerTestCase {
    func fiftyRequestsInOneWrite() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send((0..<50).map { Requests.get("/request?n=\($0)") }.joined())
        let responses = try client.readResponses(50, timeout: 20)
        for (index, response) in responses.enumerated() {
            XCTAssertEqual(response.status, 200, "response \(index)")
            XCTAssertTrue(
                response.bodyText.contains("target=/request?n=\(index) "),
                "response \(index) out of order: \(response.bodyText)")
        }
        XCTAssertFalse(client.peerClosed)
    }

    func requestsWithBodiesInOneWrite() throws {
        // Bodies of both framings between bodiless requests: each body must end exactly
        // where its framing says, or every response after it goes wrong.
        let server = try startTestApp()
        let client = try connect(server)
        var batch = ""
        for index in 0..<10 {
            switch index % 3 {
            case 0: batch += Requests.post("/echo", body: "body-\(index)", "Content-Type: text/plain\r\n")
            case 1:
                let body = "chunked-\(index)"
                batch +=
                    "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n"
            default: batch += Requests.get("/request?n=\(index)")
            }
        }
        try client.send(batch)
        let responses = try client.readResponses(10, timeout: 20)
        for (index, response) in responses.enumerated() {
            XCTAssertEqual(response.status, 200, "response \(index)")
            switch index % 3 {
            case 0: XCTAssertEqual(response.bodyText, "body-\(index)")
            case 1: XCTAssertEqual(response.bodyText, "chunked-\(index)")
            default: XCTAssertTrue(response.bodyText.contains("query=n=\(index)"), response.bodyText)
            }
        }
    }

    /// Many connections at once, each alternating single requests with pipelined ones whose
    /// tail arrives while the head is with the handler (so the loop stops reading and the
    /// hand back must wake it): every answer on its own connection, in order, and none late.
    func concurrentConnectionsEachGetTheirAnswersInOrder() throws {
        let server = try startTestApp()
        let port = server.port
        let connections = 16
        let rounds = 60
        let log = ExchangeLog()
        let started = ContinuousClock.now
        DispatchQueue.concurrentPerform(iterations: connections) { connection in
            guard let client = try? RawClient(port: port, timeout: 10) else {
                return log.fail("connection \(connection): cannot connect")
            }
            defer { client.close() }
            for round in 0..<rounds {
                let targets = (0..<(round % 2 == 0 ? 1 : 3)).map { "/request?n=\(connection)-\(round)-\($0)" }
                let roundStarted = ContinuousClock.now
                do {
                    try client.send(Requests.get(targets[0]))
                    if targets.count > 1 { try client.send(targets.dropFirst().map { Requests.get($0) }.joined()) }
                    let responses = try client.readResponses(targets.count)
                    for (target, response) in zip(targets, responses)
                    where response.status != 200 || !response.bodyText.contains("target=\(target) ") {
                        return log.fail("asked \(target), got \(response.statusLine): \(response.bodyText)")
                    }
                } catch {
                    return log.fail("connection \(connection), round \(round): \(error)")
                }
                log.took(roundStarted.duration(to: ContinuousClock.now).secondsValue)
            }
        }
        let total = started.duration(to: ContinuousClock.now).secondsValue
        let (failures, slowest) = log.result
        XCTAssertEqual(failures, [])
        // Both bounds are generous for a loaded machine (the whole run takes well under a
        // second here); lost wake-ups show as stalls: with the hand back's wake-up and the
        // collect timer both disabled, this run took 49 s.
        XCTAssertLessThan(slowest, 2.0, "the slowest exchange took \(slowest) s")
        XCTAssertLessThan(total, 15, "\(connections * rounds) rounds took \(total) s")
    }
}

final class PipeliningPoolTests: PipeliningTestCase {
    override class var threads: Int { 5 }
    func testFiftyRequestsInOneWrite() throws { try fiftyRequestsInOneWrite() }
    func testRequestsWithBodiesInOneWrite() throws { try requestsWithBodiesInOneWrite() }
    func testConcurrentConnectionsEachGetTheirAnswersInOrder() throws {
        try concurrentConnectionsEachGetTheirAnswersInOrder()
    }
}

final class PipeliningInlineTests: PipeliningTestCase {
    override class var threads: Int { 0 }
    func testFiftyRequestsInOneWrite() throws { try fiftyRequestsInOneWrite() }
    func testRequestsWithBodiesInOneWrite() throws { try requestsWithBodiesInOneWrite() }
    func testConcurrentConnectionsEachGetTheirAnswersInOrder() throws {
        try concurrentConnectionsEachGetTheirAnswersInOrder()
    }
}

/// What the concurrent clients saw: failures and the slowest exchange, from many threads.
private final class ExchangeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [String] = []
    private var slowest = 0.0

    func fail(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        failures.append(message)
    }

    func took(_ seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        slowest = max(slowest, seconds)
    }

    var result: (failures: [String], slowest: Double) {
        lock.lock()
        defer { lock.unlock() }
        return (failures, slowest)
    }
}
