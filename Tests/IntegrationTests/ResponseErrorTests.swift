import Foundation
import Testing

/// What a handler's failures become (issue 12): an error that carries its response, and a
/// client gone during a streamed response (not an error-level event). A 1xx status and a
/// response built from swift-http-types: RaptorTests/HandlerResponseTests.swift, in process.
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
}
