import HTTPTypes
import Raptor
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The routes of the test application. Each one shows one behaviour of the server.
enum TestApplication {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "the /throw route always fails" }
    }

    @Sendable static func respond(to request: Request) throws -> Response {
        // Query parameters are looked up only by the routes that use them: `GET /` is the
        // benchmark's route and must cost no more than a real hello-world handler.
        func parameter(_ name: String) -> String? { request.queryItems.first { $0.name == name }?.value }
        func number(_ name: String, _ fallback: Int) -> Int { parameter(name).flatMap { Int($0) } ?? fallback }

        switch request.path {
        case "/":
            return text("Hello, World!")
        case "/echo":
            // The body back, as received, with its media type.
            let body = try request.body.readAll()
            return Response(
                headers: [.contentType: request.headers[.contentType] ?? "application/octet-stream"], body: .bytes(body)
            )
        case "/post":
            // The benchmark's POST: the body was read in full before the handler ran (into
            // memory or a spool file); answer like the other servers, 13 bytes.
            return text(request.body.count > 0 ? "Hello, World!" : "empty body!!!")
        case "/body-info":
            return try bodyInfo(request.body)
        case "/headers":
            let lines = request.headers.all.map { "\($0.name): \($0.value)" }
            return text(lines.joined(separator: "\n") + "\n")
        case "/header-values":
            // Every value of one field, in order: /header-values?name=x-thing
            guard let name = parameter("name").flatMap({ HTTPField.Name($0) }) else {
                return Response(status: .badRequest, body: "name?\n")
            }
            return text(request.headers.values(for: name).joined(separator: "|") + "\n")
        case "/trailers":
            let lines = request.trailers.all.map { "\($0.name): \($0.value)" }
            return text("body=\(try request.body.string())\n" + lines.joined(separator: "\n") + "\n")
        case "/request":
            // The request line as the API sees it.
            let decoded = request.decodedPath ?? "(invalid)"
            let query = request.queryItems.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
            return text(
                "method=\(request.method.rawValue) target=\(request.target) path=\(decoded) query=\(query) version=\(request.version) remote=\(request.remoteAddress ?? "-") authority=\(request.httpRequest.authority ?? "-")\n"
            )
        case "/slow":
            usleep(UInt32(number("ms", 1000)) * 1000)
            return text("slow done\n")
        case "/throw":
            throw Failure()
        case "/refuse":
            // An error that carries its response: /refuse?code=403
            throw Refusal(status: HTTPResponse.Status(code: number("code", 403)))
        case "/status":
            // Any status with a body, to show the engine drops bodies where HTTP forbids them.
            let code = number("code", 200)
            return Response(
                status: HTTPResponse.Status(code: code), headers: [.contentType: "text/plain"], body: "body\n")
        case "/stream":
            let chunks = number("chunks", 3)
            // A pause after each chunk: the response has started and is still going.
            let pause = UInt32(number("pause-ms", 0))
            return Response(
                headers: [.contentType: "text/plain"],
                body: .stream { writer in
                    for index in 0..<chunks {
                        try writer.write("chunk \(index)\n")
                        if pause > 0 && index < chunks - 1 { usleep(pause * 1000) }
                    }
                })
        case "/async-stream-from-sync":
            // An .asyncStream body from a sync handler: its Task's writes block this thread.
            let chunks = number("chunks", 3)
            return Response(
                headers: [.contentType: "text/plain"],
                body: .asyncStream { writer in
                    for index in 0..<chunks {
                        await Task.yield()
                        try await writer.write("chunk \(index)\n")
                    }
                })
        case "/stream-throw":
            return Response(
                body: .stream { writer in
                    try writer.write("partial\n")
                    throw Failure()
                })
        case "/bytes":
            // A large body, to test clients that read slowly.
            let count = number("n", 1 << 20)
            return Response(
                headers: [.contentType: "application/octet-stream"], body: .bytes([UInt8](repeating: 120, count: count))
            )
        case "/tls":
            // The TLS session as the handler sees it, and which worker process answered.
            guard let tls = request.tls else { return text("secure=\(request.isSecure) pid=\(getpid())\n") }
            return text(
                "secure=\(request.isSecure) version=\(tls.version) cipher=\(tls.cipher)"
                    + " sni=\(tls.serverName ?? "-") alpn=\(tls.applicationProtocol ?? "-")"
                    + " client=\(tls.clientCertificateSubject ?? "-") pid=\(getpid())\n")
        case "/file":
            // A file region, opened per request: /file?path=/tmp/x
            return Response(body: .file(try FileRegion(path: parameter("path") ?? "")))
        case "/file-dropped":
            // Regions built and dropped unsent: their descriptors must not leak.
            for _ in 0..<number("n", 100) { _ = Response(body: .file(try FileRegion(path: parameter("path") ?? ""))) }
            return text("dropped\n")
        case "/file-copied":
            // One region sent while copies of it are dropped: one close, by the engine.
            let region = try FileRegion(path: parameter("path") ?? "")
            let copies = Array(repeating: region, count: 3)
            return Response(body: .file(copies[number("which", 0)]))
        case "/file-cached":
            // The same response (and region) every time: only the first can send it.
            return try cachedFileResponse(path: parameter("path") ?? "")
        case "/split-header":
            // A handler that tries response splitting: the engine must drop the field.
            return Response(headers: [HTTPField.Name("X-Injected")!: "a\r\nSet-Cookie: evil=1"], body: "safe\n")
        case "/value-byte":
            // X-Probe: `length` (24) times "v" with the byte `byte` at `at`, as it is.
            var value = [UInt8](repeating: UInt8(ascii: "v"), count: number("length", 24))
            value[number("at", 0)] = UInt8(number("byte", 0))
            return Response(
                headers: [HTTPField.Name("X-Probe")!: String(decoding: value, as: UTF8.self)], body: "probe\n")
        case "/exit":
            // A crashing application: the worker dies (the cluster respawns it).
            exit(3)
        case "/retain":
            // An application that grows: keeps `mb` MiB more (touched, so resident) for the
            // life of the worker, as a leak would; answers the total kept.
            return text("retained=\(Retained.add(megabytes: number("mb", 1)))MiB pid=\(getpid())\n")
        default:
            return Response(status: .notFound, headers: [.contentType: "text/plain"], body: "Not Found\n")
        }
    }

    /// An error whose response the client gets instead of a 500.
    struct Refusal: HTTPResponseError {
        var status: HTTPResponse.Status
        var headers: ResponseFields { [.contentType: "text/plain", HTTPField.Name("X-Refused")!: "yes"] }
        var body: Response.Body { .string("refused \(status.code)\n") }
    }

    private static let cachedFile = Mutex<Response?>(nil)

    /// A response built once and returned for every request: a misuse for a file body.
    private static func cachedFileResponse(path: String) throws -> Response {
        try cachedFile.withLock { cached in
            if let cached { return cached }
            let response = Response(body: .file(try FileRegion(path: path)))
            cached = response
            return response
        }
    }

    /// Every hook reports itself on standard error, so the tests can see it ran.
    static let hooks = Hooks(
        beforeFork: { report("hook before-fork pid=\(getpid())") },
        workerBoot: { index in
            report("hook worker-boot index=\(index)")
            bootAsTheEnvironmentSays()
        },
        workerShutdown: { index in report("hook worker-shutdown index=\(index)") },
        onError: { context in report("hook on-error \(context.method) \(context.target): \(context.error)") })

    /// For the cluster tests: `RAPTOR_TESTAPP_BOOT_DELAY_MS` makes a worker's boot slow,
    /// a worker's boot never ends while the file `RAPTOR_TESTAPP_HANG_BOOT_IF` names exists
    /// (a boot stuck on a dead dependency), and a worker exits (3) at boot while the file
    /// `RAPTOR_TESTAPP_FAIL_BOOT_IF` names exists (a build that cannot start).
    private static func bootAsTheEnvironmentSays() {
        if let delay = getenv("RAPTOR_TESTAPP_BOOT_DELAY_MS").flatMap({ UInt32(String(cString: $0)) }) {
            usleep(delay * 1000)
        }
        if let path = getenv("RAPTOR_TESTAPP_HANG_BOOT_IF"), access(path, F_OK) == 0 {
            report("hook worker-boot hanging on purpose")
            while true { pause() }
        }
        if let path = getenv("RAPTOR_TESTAPP_FAIL_BOOT_IF"), access(path, F_OK) == 0 {
            report("hook worker-boot failing on purpose")
            exit(3)
        }
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// A Task started, and run, before the server: its executor's thread stays.
    static func startTaskBeforeRun() {
        let ran = Atomic(false)
        Task.detached { ran.store(true, ordering: .releasing) }
        while !ran.load(ordering: .acquiring) { usleep(1000) }
    }

    /// How the body arrived: length, whether it stayed in memory, a checksum.
    static func bodyInfo(_ body: borrowing RequestBody) throws -> Response {
        var reader = body.reader()
        var sum: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if got == 0 { break }
            for byte in buffer[..<got] { sum = sum &+ UInt64(byte) }
        }
        return text("length=\(body.count) memory=\(body.isInMemory) sum=\(sum)\n")
    }

    static func report(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func text(_ body: String) -> Response {
        Response(headers: [.contentType: "text/plain"], body: .string(body))
    }
}

/// What `/retain` keeps: memory a worker never gives back (deliberately leaked).
enum Retained {
    private static let megabytesKept = Mutex(0)

    /// Keeps `megabytes` more MiB, every page written; returns the MiB kept in all.
    static func add(megabytes: Int) -> Int {
        megabytesKept.withLock { kept in
            for _ in 0..<max(0, megabytes) {
                memset(UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096), 1, 1 << 20)
                kept += 1
            }
            return kept
        }
    }
}
