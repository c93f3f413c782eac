import HTTPTypes
import Raptor
import RaptorTesting
import Synchronization
import Testing

/// What a handler's response becomes on the wire: the engine's parser and encoder in this
/// process (RaptorTesting), inline and on app threads. Moved here from the integration
/// tests, which started the test app's binary four times for each.
@Suite struct HandlerResponseTests {
    @Test(arguments: [0, 2])
    func responseConvertsToAndFromHTTPTypes(threads: Int) throws {
        let tag = HTTPField.Name("X-Tag")!
        let app = try TestApplication(configuration: Self.configuration(threads: threads)) { _ in
            let built = HTTPResponse(status: .accepted, headerFields: [.contentType: "text/plain", tag: "a", tag: "b"])
            let response = Response(built, body: .empty)
            let tags = response.httpResponse.headerFields[values: tag].joined(separator: ",")
            return Response(response.httpResponse, body: .string("x-tag=\(tags)\n"))
        }
        let response = try app.send(.get("/"))
        #expect(response.status == .accepted)
        #expect(response.headers[values: tag] == ["a", "b"])
        #expect(response.headers[.contentType] == "text/plain")
        #expect(response.bodyText == "x-tag=a,b\n")
        try app.stop()
    }

    /// A handler's 1xx status cannot end a response: a 500, and an error that says so.
    @Test(arguments: [0, 2])
    func interimStatusIsRefusedWithAClearError(threads: Int) throws {
        let reported = Mutex<[String]>([])
        let hooks = Hooks(onError: { context in reported.withLock { $0.append("\(context.target): \(context.error)") } }
        )
        let app = try TestApplication(configuration: Self.configuration(threads: threads), hooks: hooks) { request in
            Response(status: HTTPResponse.Status(code: Int(request.path.dropFirst())!), body: "interim?")
        }
        for code in [100, 101, 103] {
            let response = try app.send(.get("/\(code)"))
            #expect(response.status == .internalServerError, "a handler's \(code)")
        }
        try app.stop()
        #expect(
            reported.withLock { $0 }
                == [100, 101, 103].map {
                    "/\($0): the handler returned status \($0): 1xx statuses are interim (RFC 9110 section 15.2) and"
                        + " cannot end a response; return a final status (200-599)"
                })
    }

    private static func configuration(threads: Int) -> Configuration {
        var configuration = Configuration()
        configuration.threads = threads
        return configuration
    }
}
