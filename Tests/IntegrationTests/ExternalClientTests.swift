import Foundation
import Testing

/// Real clients, as a new user would run them: curl against `raptor-ev serve public/`
/// of this repository, and Python's http.client against the test application.
@Suite(.concurrent) final class ExternalClientTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func curlGetsTheRepositoryPublicIndex(_ mode: ServerMode) throws {
        #expect(ExternalClient.isAvailable("curl"), "curl is not installed (make test-deps)")
        let publicDirectory = Binaries.repositoryRoot.appendingPathComponent("public").path
        let server = try startStaticServer(mode, directory: publicDirectory)
        let result = try curl(server, "/", ["-sS", "-i"])
        #expect(result.succeeded, "\(result)")
        let output = result.standardOutput
        // Over TLS, ALPN gives curl HTTP/2.
        let statusLine = mode.transport == .tls ? "HTTP/2 200" : "HTTP/1.1 200"
        #expect(output.hasPrefix(statusLine), "status line: \(output.prefix(200).debugDescription)")
        let head = output.components(separatedBy: "\r\n\r\n").first ?? ""
        #expect(
            head.lowercased().contains("\r\ncontent-type: text/html"), "the index is HTML: \(head.debugDescription)")
        let body = output.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n").lowercased()
        #expect(body.contains("<html") || body.contains("<!doctype html"), "body: \(body.prefix(300).debugDescription)")
    }

    @Test(arguments: ServerMode.all)
    func curlPostsAndUploadsChunked(_ mode: ServerMode) throws {
        #expect(ExternalClient.isAvailable("curl"), "curl is not installed (make test-deps)")
        let server = try startTestApp(mode)
        let post = try curl(
            server, "/echo", ["-sS", "--data-binary", "hello from curl", "-H", "Content-Type: text/plain"])
        #expect(post.succeeded, "\(post)")
        #expect(post.standardOutput == "hello from curl")

        let file = workDirectory.appendingPathComponent("upload.bin")
        try Data(repeating: 65, count: 300_000).write(to: file)
        let chunked = try curl(
            server, "/body-info",
            ["-sS", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue", "--data-binary", "@\(file.path)"])
        #expect(chunked.succeeded, "\(chunked)")
        #expect(chunked.standardOutput == "length=300000 memory=true sum=\(300_000 * 65)\n")
    }

    /// Run with ServerSuite.python: sys.argv[1] is the server's URL, connect() comes with it.
    static let pythonScript = """
        import json, sys
        connection = connect(sys.argv[1])
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

    @Test(arguments: ServerMode.all)
    func pythonHTTPClientReusesTheConnection(_ mode: ServerMode) throws {
        #expect(ExternalClient.isAvailable("python3"), "python3 is not installed (make test-deps)")
        let server = try startTestApp(mode)
        let result = try python(server, Self.pythonScript)
        #expect(result.succeeded, "\(result)")
        let data = Data(result.standardOutput.utf8)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let results = object["results"] as? [[String: Any]]
        else {
            Issue.record("unexpected output: \(result)")
            return
        }
        #expect((object["connections"] as? Int) == 1, "http.client opened a new connection: the server closed one")
        #expect(results.count == 4)
        for index in 0..<3 {
            #expect((results[index]["status"] as? Int) == 200)
            #expect((results[index]["body"] as? String ?? "").contains("query=n=\(index)"))
        }
        #expect((results[3]["status"] as? Int) == 200)
        #expect((results[3]["body"] as? String) == "python body")
        #expect((results[3]["type"] as? String) == "text/plain")
    }
}
