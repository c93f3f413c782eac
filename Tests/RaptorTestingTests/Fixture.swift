import Foundation
import HTTPTypes
import Raptor
import RaptorTesting
import Synchronization
import Testing

/// The application the tests send requests to, and the dispatch modes it runs in.
enum Fixture {
    /// Inline (`threads = 0`: the handler on the loop thread) or on a pool of app threads.
    enum Dispatch: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case inline, pool
        var testDescription: String { rawValue }

        var configuration: Configuration {
            var configuration = Configuration()
            configuration.threads = self == .inline ? 0 : 2
            configuration.shutdownTimeout = .seconds(5)
            return configuration
        }

        /// The fixture's handler served in this mode, its failures (`Hooks.onError`) told to
        /// `errors`.
        func application(reportingTo errors: ErrorLog? = nil) throws -> TestApplication {
            try TestApplication(configuration: configuration, hooks: errors?.hooks ?? Hooks(), handler: Fixture.handler)
        }
    }

    struct Teapot: HTTPResponseError {
        var status: HTTPResponse.Status { .init(code: 418, reasonPhrase: "I'm a teapot") }
        var headers: ResponseFields { [.contentType: "text/plain", .retryAfter: "7"] }
        var body: Response.Body { "short and stout\n" }
    }

    struct Broken: Error {}

    /// The files the `/file` and `/large` routes send: unlinked at once (nothing is left on
    /// disk), each response sends a duplicate of the descriptor.
    static let file = UnlinkedFile(contents: Array(fileContents.utf8))
    static let fileContents = String(repeating: "a line of the file\n", count: 500)
    /// More than the socket buffers hold, so a client can leave in the middle (sparse).
    static let largeFile = UnlinkedFile(length: 16 << 20)

    static let handler: Handler = { request in
        switch request.path {
        case "/hello":
            return Response(headers: [.contentType: "text/plain"], body: "Hello")
        case "/echo":
            let type = request.headers[.contentType] ?? "application/octet-stream"
            return Response(headers: [.contentType: type], body: .bytes(try request.body.readAll()))
        case "/headers":
            // Every X- field back, in order (repeated ones too).
            let fields = request.headers.all.filter { $0.name.lowercased().hasPrefix("x-") }
            return Response(headers: ResponseFields(fields.map { (HTTPField.Name($0.name)!, $0.value) }))
        case "/stream":
            return Response(
                headers: [.contentType: "text/plain"],
                body: .stream { writer in
                    for part in 1...3 { try writer.write("part \(part)\n") }
                })
        case "/file":
            return Response(headers: [.contentType: "text/plain"], body: .file(file.region()))
        case "/large":
            // More than the socket buffers hold: the client can leave in the middle.
            return Response(body: .file(largeFile.region()))
        case "/teapot":
            throw Teapot()
        case "/broken":
            throw Broken()
        default:
            return Response(status: .notFound, body: "not found\n")
        }
    }
}

/// What `Hooks.onError` saw.
final class ErrorLog: Sendable {
    private let entries = Mutex<[String]>([])
    var targets: [String] { entries.withLock { $0 } }
    var hooks: Hooks { Hooks(onError: { context in self.entries.withLock { $0.append(context.target) } }) }
}

/// A temporary file with no name.
struct UnlinkedFile: Sendable {
    let descriptor: Int32
    let length: Int

    init(contents: [UInt8] = [], length: Int? = nil) {
        var template = Array("/tmp/raptor-testing-XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        unlink(template)
        _ = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        ftruncate(descriptor, off_t(length ?? contents.count))
        self.descriptor = descriptor
        self.length = length ?? contents.count
    }

    func region() -> FileRegion {
        FileRegion(fileDescriptor: dup(descriptor), offset: 0, length: UInt64(length))
    }
}
