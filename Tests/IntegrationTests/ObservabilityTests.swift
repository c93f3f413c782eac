import Foundation
import Testing

/// What an operator sees: the access log (off by default; Common Log Format with text
/// logs, JSON with JSON logs) and the application's hooks (worker boot and shutdown, and
/// on-error after a handler threw).
@Suite(.concurrent) final class ObservabilityTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func accessLogIsOffByDefault(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let status = try exchange(server, Requests.get("/request?n=1")).status
        #expect(status == 200)
        server.stop()
        #expect(server.standardOutput == "", "no access log without --access-log")
    }

    @Test(arguments: ServerMode.all)
    func accessLogWritesJSONLines(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--access-log"])
        let statusOfRequest = try exchange(server, Requests.get("/request?n=7")).status
        #expect(statusOfRequest == 200)
        let statusOfNowhere = try exchange(server, Requests.get("/nowhere")).status
        #expect(statusOfNowhere == 404)
        #expect(
            waitUntil(timeout: 5) { server.standardOutput.split(separator: "\n").count >= 2 },
            "\(server.standardOutput)")
        let entries = server.standardOutput.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(entries.count == 2, "\(server.standardOutput)")
        // Each worker writes its own lines: find them by path, not by position.
        let found = entries.first { $0["path"] as? String == "/request?n=7" }
        let missing = entries.first { $0["path"] as? String == "/nowhere" }
        #expect((found?["method"] as? String) == "GET")
        #expect((found?["status"] as? Int) == 200)
        #expect((found?["remote_addr"] as? String) == "127.0.0.1")
        #expect((found?["http_version"] as? String) == "HTTP/1.1")
        #expect(found?["duration_ms"] != nil)
        #expect((missing?["status"] as? Int) == 404)
        #expect((missing?["bytes"] as? Int) == "Not Found\n".utf8.count)
    }

    @Test(arguments: ServerMode.all)
    func accessLogUsesCommonLogFormatWithTextLogs(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--access-log", "--log-format", "text"])
        let response = try exchange(server, Requests.get("/request?n=3"))
        #expect(response.status == 200)
        #expect(waitUntil(timeout: 5) { server.standardOutput.contains("\n") }, "\(server.standardOutput)")
        let line = String(server.standardOutput.split(separator: "\n").first ?? "")
        // host ident authuser [date] "request line" status bytes
        let pattern =
            #"^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /request\?n=3 HTTP/1\.1" 200 (\d+)$"#
        let match = line.range(of: pattern, options: .regularExpression)
        #expect(match != nil, "not Common Log Format: \(line)")
        #expect(line.hasSuffix(" \(response.body.count)"), "\(line)")
    }

    @Test(arguments: ServerMode.all)
    func hooksRunAtBootShutdownAndOnError(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        // In a cluster the master logs `listening` before its workers boot: wait for the hook.
        #expect(
            waitUntil(timeout: 10) { server.standardError.contains("hook worker-boot index=0") },
            "\(server.standardError)")
        let status = try exchange(server, Requests.get("/throw")).status
        #expect(status == 500)
        #expect(
            waitUntil(timeout: 5) {
                server.standardError.contains("hook on-error GET /throw: the /throw route always fails")
            }, "\(server.standardError)")
        server.stop()
        #expect(server.standardError.contains("hook worker-shutdown index=0"), "\(server.standardError)")
    }
}
