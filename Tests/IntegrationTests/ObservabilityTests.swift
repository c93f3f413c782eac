import Foundation
import XCTest

/// What an operator sees: the access log (off by default; Common Log Format with text
/// logs, JSON with JSON logs) and the application's hooks (worker boot and shutdown, and
/// on-error after a handler threw).
class ObservabilityTestCase: ServerTestCase {
    func accessLogIsOffByDefault() throws {
        let server = try startTestApp()
        XCTAssertEqual(try exchange(server, Requests.get("/request?n=1")).status, 200)
        server.stop()
        XCTAssertEqual(server.standardOutput, "", "no access log without --access-log")
    }

    func accessLogWritesJSONLines() throws {
        let server = try startTestApp(["--access-log"])
        XCTAssertEqual(try exchange(server, Requests.get("/request?n=7")).status, 200)
        XCTAssertEqual(try exchange(server, Requests.get("/nowhere")).status, 404)
        XCTAssertTrue(
            waitUntil(timeout: 5) { server.standardOutput.split(separator: "\n").count >= 2 }, server.standardOutput)
        let entries = server.standardOutput.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(entries.count, 2, server.standardOutput)
        // Each worker writes its own lines: find them by path, not by position.
        let found = entries.first { $0["path"] as? String == "/request?n=7" }
        let missing = entries.first { $0["path"] as? String == "/nowhere" }
        XCTAssertEqual(found?["method"] as? String, "GET")
        XCTAssertEqual(found?["status"] as? Int, 200)
        XCTAssertEqual(found?["remote_addr"] as? String, "127.0.0.1")
        XCTAssertEqual(found?["http_version"] as? String, "HTTP/1.1")
        XCTAssertNotNil(found?["duration_ms"])
        XCTAssertEqual(missing?["status"] as? Int, 404)
        XCTAssertEqual(missing?["bytes"] as? Int, "Not Found\n".utf8.count)
    }

    func accessLogUsesCommonLogFormatWithTextLogs() throws {
        let server = try startTestApp(["--access-log", "--log-format", "text"])
        let response = try exchange(server, Requests.get("/request?n=3"))
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(waitUntil(timeout: 5) { server.standardOutput.contains("\n") }, server.standardOutput)
        let line = String(server.standardOutput.split(separator: "\n").first ?? "")
        // host ident authuser [date] "request line" status bytes
        let pattern =
            #"^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /request\?n=3 HTTP/1\.1" 200 (\d+)$"#
        let match = line.range(of: pattern, options: .regularExpression)
        XCTAssertNotNil(match, "not Common Log Format: \(line)")
        XCTAssertTrue(line.hasSuffix(" \(response.body.count)"), line)
    }

    func hooksRunAtBootShutdownAndOnError() throws {
        let server = try startTestApp()
        // In a cluster the master logs `listening` before its workers boot: wait for the hook.
        XCTAssertTrue(
            waitUntil(timeout: 10) { server.standardError.contains("hook worker-boot index=0") }, server.standardError)
        XCTAssertEqual(try exchange(server, Requests.get("/throw")).status, 500)
        XCTAssertTrue(
            waitUntil(timeout: 5) {
                server.standardError.contains("hook on-error GET /throw: the /throw route always fails")
            },
            server.standardError)
        server.stop()
        XCTAssertTrue(server.standardError.contains("hook worker-shutdown index=0"), server.standardError)
    }
}

final class ObservabilityPoolTests: ObservabilityTestCase {
    override class var threads: Int { 5 }
    func testAccessLogIsOffByDefault() throws { try accessLogIsOffByDefault() }
    func testAccessLogWritesJSONLines() throws { try accessLogWritesJSONLines() }
    func testAccessLogUsesCommonLogFormatWithTextLogs() throws { try accessLogUsesCommonLogFormatWithTextLogs() }
    func testHooksRunAtBootShutdownAndOnError() throws { try hooksRunAtBootShutdownAndOnError() }
}

final class ObservabilityInlineTests: ObservabilityTestCase {
    override class var threads: Int { 0 }
    func testAccessLogIsOffByDefault() throws { try accessLogIsOffByDefault() }
    func testAccessLogWritesJSONLines() throws { try accessLogWritesJSONLines() }
    func testAccessLogUsesCommonLogFormatWithTextLogs() throws { try accessLogUsesCommonLogFormatWithTextLogs() }
    func testHooksRunAtBootShutdownAndOnError() throws { try hooksRunAtBootShutdownAndOnError() }
}
