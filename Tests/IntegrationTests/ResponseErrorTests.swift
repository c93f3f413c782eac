import Foundation
import Testing

/// What a handler's failures become (issue 12): an error that carries its response, a 1xx
/// status refused with a clear error, a client gone during a streamed response (not an
/// error-level event), and a response built from swift-http-types.
@Suite(.concurrent) final class ResponseErrorTests: ServerSuite {
    /// A 4xx HTTPResponseError is the application's answer: its status, fields and body
    /// sent, the connection kept, nothing logged as an error, no hook call.
    @Test(arguments: ServerMode.all)
    func errorWithAResponseIsSentAndTheConnectionGoesOn(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/refuse?code=404"))
        let refused = try client.readResponse()
        #expect(refused.status == 404, "\(refused.rawHead)")
        #expect(refused.header("X-Refused") == "yes")
        #expect(refused.header("Content-Type") == "text/plain")
        #expect(refused.bodyText == "refused 404\n")
        #expect(!refused.saysClose, "an answer, not a failure: \(refused.rawHead)")
        try client.send(Requests.get("/"))
        let next = try client.readResponse()
        #expect(next.status == 200)
        expectNoFailureReported(server)
    }

    /// A 5xx HTTPResponseError is sent as it is, and reported as a failure (the hook, the
    /// log).
    @Test(arguments: ServerMode.all)
    func errorWithA5xxResponseIsSentAndReportedAsAFailure(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, Requests.get("/refuse?code=503"))
        #expect(response.status == 503)
        #expect(response.bodyText == "refused 503\n")
        let failed = waitUntil(timeout: 5) {
            server.standardError.contains("hook on-error GET /refuse?code=503: Refusal(status: 503")
                && server.standardError.contains("\"message\":\"handler failed\"")
        }
        #expect(failed, "\(server.logTail)")
    }

    /// Any other error is a 500, as before.
    @Test(arguments: ServerMode.all)
    func otherErrorIsA500(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, Requests.get("/throw"))
        #expect(response.status == 500)
    }

    /// A handler's 1xx status cannot end a response: a 500, and an error that says so.
    @Test(arguments: ServerMode.all)
    func interimStatusIsRefusedWithAClearError(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for code in [100, 101, 103] {
            let response = try exchange(server, Requests.get("/status?code=\(code)"))
            #expect(response.status == 500, "a handler's \(code): \(response.rawHead)")
            let reported = waitUntil(timeout: 5) {
                server.standardError.contains(
                    "hook on-error GET /status?code=\(code): the handler returned status \(code): 1xx statuses are"
                        + " interim (RFC 9110 section 15.2) and cannot end a response; return a final status (200-599)")
            }
            #expect(reported, "\(server.logTail)")
        }
    }

    /// A client that closes during a streamed response: logged at info, no error, no hook.
    @Test(arguments: ServerMode.all)
    func clientGoneDuringAStreamIsNotAnError(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/stream?chunks=100000&pause-ms=2"))
        let head = try client.readHead()
        #expect(head.status == 200)
        client.close()
        let logged = waitUntil(timeout: 10) {
            server.standardError.contains(#""level":"info","message":"client went away during the response""#)
        }
        #expect(logged, "\(server.logTail)")
        expectNoFailureReported(server)
        let next = try exchange(server, Requests.get("/"))
        #expect(next.status == 200)
    }

    /// A response built as an HTTPResponse (repeated fields, in order) and read back.
    @Test(arguments: ServerMode.all)
    func responseConvertsToAndFromHTTPTypes(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, Requests.get("/http-types"))
        #expect(response.status == 202)
        #expect(response.headers("X-Tag") == ["a", "b"], "\(response.rawHead)")
        #expect(response.bodyText == "x-tag=a,b\n")
    }
}
