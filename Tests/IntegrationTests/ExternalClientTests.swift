import Foundation
import XCTest

/// Real clients, as a new user would run them: curl against `raptor-ev serve public/`
/// of this repository, and Python's http.client against the test application.
class ExternalClientTestCase: ServerTestCase {
    func curlGetsTheRepositoryPublicIndex() throws {
        XCTAssertTrue(ExternalClient.isAvailable("curl"), "curl is not installed (make test-deps)")
        let publicDirectory = Binaries.repositoryRoot.appendingPathComponent("public").path
        let server = try startStaticServer(directory: publicDirectory)
        let result = try ExternalClient.curl(
            ["-sS", "-i", "http://127.0.0.1:\(server.port)/"], outputDirectory: workDirectory)
        XCTAssertTrue(result.succeeded, "\(result)")
        let output = result.standardOutput
        XCTAssertTrue(output.hasPrefix("HTTP/1.1 200"), "status line: \(output.prefix(200).debugDescription)")
        let head = output.components(separatedBy: "\r\n\r\n").first ?? ""
        XCTAssertTrue(
            head.lowercased().contains("\r\ncontent-type: text/html"), "the index is HTML: \(head.debugDescription)")
        let body = output.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n").lowercased()
        XCTAssertTrue(
            body.contains("<html") || body.contains("<!doctype html"), "body: \(body.prefix(300).debugDescription)")
    }

    func curlPostsAndUploadsChunked() throws {
        XCTAssertTrue(ExternalClient.isAvailable("curl"), "curl is not installed (make test-deps)")
        let server = try startTestApp()
        let url = "http://127.0.0.1:\(server.port)"
        let post = try ExternalClient.curl(
            ["-sS", "--data-binary", "hello from curl", "-H", "Content-Type: text/plain", "\(url)/echo"],
            outputDirectory: workDirectory)
        XCTAssertTrue(post.succeeded, "\(post)")
        XCTAssertEqual(post.standardOutput, "hello from curl")

        let file = workDirectory.appendingPathComponent("upload.bin")
        try Data(repeating: 65, count: 300_000).write(to: file)
        let chunked = try ExternalClient.curl(
            [
                "-sS", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue", "--data-binary",
                "@\(file.path)", "\(url)/body-info",
            ],
            outputDirectory: workDirectory)
        XCTAssertTrue(chunked.succeeded, "\(chunked)")
        XCTAssertEqual(chunked.standardOutput, "length=300000 memory=true sum=\(300_000 * 65)\n")
    }

    static let pythonScript = """
        import http.client, json, sys
        port = int(sys.argv[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        results = []
        sockets = set()
        for index in range(3):
            connection.request("GET", "/request?n=%d" % index)
            response = connection.getresponse()
            results.append({"status": response.status, "body": response.read().decode()})
            sockets.add(connection.sock.getsockname()[1])
        connection.request("POST", "/echo", body=b"python body", headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        results.append({"status": response.status, "body": response.read().decode(), "type": response.getheader("Content-Type")})
        sockets.add(connection.sock.getsockname()[1])
        connection.close()
        print(json.dumps({"results": results, "connections": len(sockets)}))
        """

    func pythonHTTPClientReusesTheConnection() throws {
        XCTAssertTrue(ExternalClient.isAvailable("python3"), "python3 is not installed (make test-deps)")
        let server = try startTestApp()
        let result = try ExternalClient.python(
            Self.pythonScript, arguments: [String(server.port)], outputDirectory: workDirectory)
        XCTAssertTrue(result.succeeded, "\(result)")
        let data = Data(result.standardOutput.utf8)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let results = object["results"] as? [[String: Any]]
        else {
            return XCTFail("unexpected output: \(result)")
        }
        XCTAssertEqual(object["connections"] as? Int, 1, "http.client opened a new connection: the server closed one")
        XCTAssertEqual(results.count, 4)
        for index in 0..<3 {
            XCTAssertEqual(results[index]["status"] as? Int, 200)
            XCTAssertTrue((results[index]["body"] as? String ?? "").contains("query=n=\(index)"))
        }
        XCTAssertEqual(results[3]["status"] as? Int, 200)
        XCTAssertEqual(results[3]["body"] as? String, "python body")
        XCTAssertEqual(results[3]["type"] as? String, "text/plain")
    }
}

final class ExternalClientPoolTests: ExternalClientTestCase {
    override class var threads: Int { 5 }
    func testCurlGetsTheRepositoryPublicIndex() throws { try curlGetsTheRepositoryPublicIndex() }
    func testCurlPostsAndUploadsChunked() throws { try curlPostsAndUploadsChunked() }
    func testPythonHTTPClientReusesTheConnection() throws { try pythonHTTPClientReusesTheConnection() }
}

final class ExternalClientInlineTests: ExternalClientTestCase {
    override class var threads: Int { 0 }
    func testCurlGetsTheRepositoryPublicIndex() throws { try curlGetsTheRepositoryPublicIndex() }
    func testCurlPostsAndUploadsChunked() throws { try curlPostsAndUploadsChunked() }
    func testPythonHTTPClientReusesTheConnection() throws { try pythonHTTPClientReusesTheConnection() }
}
