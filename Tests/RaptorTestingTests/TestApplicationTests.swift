import Foundation
import HTTPTypes
import Raptor
import RaptorTesting
import Testing

/// Requests to an application through the engine without a port (a socket pair): the real
/// parser, dispatch and response encoder, in each dispatch mode.
@Suite struct TestApplicationTests {
    @Test(arguments: Fixture.Dispatch.allCases)
    func getAndPostWithABody(_ dispatch: Fixture.Dispatch) throws {
        let app = try dispatch.application()
        let hello = try app.send(.get("/hello"))
        #expect(hello.status == .ok)
        #expect(hello.bodyText == "Hello")
        #expect(hello.framing == .contentLength)
        #expect(hello.headers[.contentLength] == "5")
        // Written by the engine's encoder, not by the handler.
        #expect(hello.headers[.date] != nil)

        let body = (0..<20_000).map { UInt8(truncatingIfNeeded: $0) }
        let echoed = try app.send(.post("/echo", headers: [.contentType: "application/x-test"], body: body))
        #expect(echoed.status == .ok)
        #expect(echoed.body == body)
        #expect(echoed.headers[.contentType] == "application/x-test")
        try app.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func headersMakeTheRoundTrip(_ dispatch: Fixture.Dispatch) throws {
        let app = try dispatch.application()
        var headers = HTTPFields()
        headers.append(HTTPField(name: HTTPField.Name("X-One")!, value: "first value"))
        headers.append(HTTPField(name: HTTPField.Name("X-Two")!, value: "a"))
        headers.append(HTTPField(name: HTTPField.Name("X-Two")!, value: "b"))
        let response = try app.send(.get("/headers", headers: headers))
        #expect(response.headers[values: HTTPField.Name("X-One")!] == ["first value"])
        #expect(response.headers[values: HTTPField.Name("X-Two")!] == ["a", "b"])
        #expect(response.httpResponse.status == .ok)
        try app.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func aStreamedResponseIsDecoded(_ dispatch: Fixture.Dispatch) throws {
        let app = try dispatch.application()
        let response = try app.send(.get("/stream"))
        #expect(response.framing == .chunked)
        #expect(response.headers[.transferEncoding] == "chunked")
        #expect(response.chunks.map { String(decoding: $0, as: UTF8.self) } == ["part 1\n", "part 2\n", "part 3\n"])
        #expect(response.bodyText == "part 1\npart 2\npart 3\n")
        try app.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func aFileResponseIsSent(_ dispatch: Fixture.Dispatch) throws {
        let app = try dispatch.application()
        let response = try app.send(.get("/file"))
        #expect(response.status == .ok)
        #expect(response.headers[.contentLength] == "\(Fixture.fileContents.utf8.count)")
        #expect(response.bodyText == Fixture.fileContents)
        let head = try app.send(.head("/file"))
        #expect(head.framing == .none)
        #expect(head.body.isEmpty)
        #expect(head.headers[.contentLength] == "\(Fixture.fileContents.utf8.count)")
        try app.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func aThrownHTTPResponseErrorIsItsResponse(_ dispatch: Fixture.Dispatch) throws {
        let errors = ErrorLog()
        let app = try dispatch.application(reportingTo: errors)
        let client = try app.connect()
        let response = try client.send(.get("/teapot"))
        #expect(response.status.code == 418)
        #expect(response.headers[.retryAfter] == "7")
        #expect(response.bodyText == "short and stout\n")
        // A 4xx is an answer: the connection stays open, and no error is reported.
        let next = try client.send(.get("/hello"))
        #expect(next.status == .ok)
        #expect(errors.targets.isEmpty)
        client.close()
        try app.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func anotherErrorIsA500(_ dispatch: Fixture.Dispatch) throws {
        let errors = ErrorLog()
        let app = try dispatch.application(reportingTo: errors)
        let client = try app.connect()
        let response = try client.send(.get("/broken"))
        #expect(response.status == .internalServerError)
        #expect(response.headers[.connection] == "close")
        #expect(try client.waitForClose())
        #expect(errors.targets == ["/broken"])
        try app.stop()
    }

    /// Bytes only a hand-written client sends: the engine's strict parser answers them.
    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: test\r\nNo colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : test\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET /a b HTTP/1.1\r\nHost: test\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
    ])
    func malformedBytesGet400FromTheParser(_ request: String) throws {
        let app = try Fixture.Dispatch.inline.application()
        let client = try app.connect()
        try client.write(raw: request)
        let response = try client.readResponse()
        #expect(response.status == .badRequest)
        #expect(try client.waitForClose())
        try app.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func oneClientKeepsItsConnectionForSeveralRequests(_ dispatch: Fixture.Dispatch) throws {
        let app = try dispatch.application()
        let client = try app.connect()
        for index in 0..<5 {
            let response = try client.send(.post("/echo", body: "request \(index)"))
            #expect(response.bodyText == "request \(index)")
            #expect(response.headers[.connection] == nil)
        }
        // Pipelined: three requests written before any response is read.
        try client.write(.get("/hello"))
        try client.write(.head("/hello"))
        try client.write(.get("/stream"))
        #expect(try client.readResponse().bodyText == "Hello")
        #expect(try client.readResponse().framing == .none)
        #expect(try client.readResponse().bodyText == "part 1\npart 2\npart 3\n")
        #expect(try !client.waitForClose(timeout: .milliseconds(50)))
        client.close()
        try app.stop()
    }

    @Test func theConfigurationsLimitsApply() throws {
        var configuration = Fixture.Dispatch.inline.configuration
        configuration.maxBodySize = 10
        let app = try TestApplication(configuration: configuration, handler: Fixture.handler)
        let response = try app.send(.post("/echo", body: "more than ten bytes"))
        #expect(response.status == .contentTooLarge)
        try app.stop()
    }

    @Test func aStoppedApplicationRefusesNewClients() throws {
        let app = try Fixture.Dispatch.inline.application()
        try app.stop()
        try app.stop()
        #expect(throws: (any Error).self) { try app.connect() }
    }

    @Test func aResponderIsServed() throws {
        let app = try TestApplication(responder: .sync { _ in Response(body: "from a responder") })
        #expect(try app.send(.get("/")).bodyText == "from a responder")
        try app.stop()
    }

    /// Each application has its own engine: stopping one leaves the other serving.
    @Test func applicationsStopIndependently() throws {
        let first = try Fixture.Dispatch.inline.application()
        let second = try Fixture.Dispatch.pool.application()
        try first.stop()
        #expect(try second.send(.get("/hello")).bodyText == "Hello")
        #expect(throws: (any Error).self) { try first.connect() }
        try second.stop()
    }

    /// A request in flight when the stop begins is answered before the stop returns.
    @Test(arguments: Fixture.Dispatch.allCases)
    func aRequestInFlightFinishesBeforeTheStop(_ dispatch: Fixture.Dispatch) throws {
        let started = DispatchSemaphore(value: 0)
        let app = try TestApplication(configuration: dispatch.configuration) { request in
            let body = try request.body.readAll()
            started.signal()
            Thread.sleep(forTimeInterval: 0.2)  // still running when the stop below begins
            return Response(body: .bytes(body))
        }
        let client = try app.connect()
        try client.write(.post("/", body: "in flight"))
        #expect(started.wait(timeout: .now() + 10) == .success)
        try app.stop()
        #expect(try client.readResponse().bodyText == "in flight")
    }

    /// A handler that outlives the shutdown timeout: the stop gives up on it and says so;
    /// the handler still finishes later on what was left to it (the application, the
    /// worker's memory), without harm.
    @Test func aHandlerPastTheShutdownTimeoutMakesTheStopThrow() throws {
        var configuration = Fixture.Dispatch.pool.configuration
        configuration.shutdownTimeout = .milliseconds(100)
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let app = try TestApplication(configuration: configuration) { _ in
            started.signal()
            Thread.sleep(forTimeInterval: 1)
            defer { finished.signal() }
            return Response(body: "late")
        }
        let client = try app.connect()
        try client.write(.get("/"))
        #expect(started.wait(timeout: .now() + 10) == .success)
        let error = #expect(throws: RaptorError.self) { try app.stop() }
        #expect(error.map { "\($0)" }?.contains("handlers outlived the shutdown timeout") == true)
        #expect(finished.wait(timeout: .now() + 10) == .success)
        client.close()
    }
}
