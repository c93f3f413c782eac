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
}

final class PipeliningPoolTests: PipeliningTestCase {
    override class var threads: Int { 5 }
    func testFiftyRequestsInOneWrite() throws { try fiftyRequestsInOneWrite() }
    func testRequestsWithBodiesInOneWrite() throws { try requestsWithBodiesInOneWrite() }
}

final class PipeliningInlineTests: PipeliningTestCase {
    override class var threads: Int { 0 }
    func testFiftyRequestsInOneWrite() throws { try fiftyRequestsInOneWrite() }
    func testRequestsWithBodiesInOneWrite() throws { try requestsWithBodiesInOneWrite() }
}
