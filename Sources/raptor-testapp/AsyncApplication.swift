import HTTPTypes
import Raptor
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The test application as an async handler (`RAPTOR_TESTAPP_APPLICATION=async`): each
/// request a Task in the worker. Its own routes show what only an async handler does
/// (awaiting without a thread, streaming without blocking, the body as chunks); every other
/// path is the sync application's route, called from the Task.
enum AsyncApplication {
    @Sendable static func respond(to request: Request) async throws -> Response {
        func number(_ name: String, _ fallback: Int) -> Int {
            (request.queryItems.first { $0.name == name }?.value).flatMap { Int($0) } ?? fallback
        }

        switch request.path {
        case "/":
            return TestApplication.text("Hello, World!")
        case "/sleep":
            // Awaits a timer: the I/O-bound handler of the tests; `report` says on standard
            // error when it began.
            let report = request.queryItems.contains(where: { $0.name == "report" })
            let target = request.target
            if report { TestApplication.report("sleep began \(target)") }
            do {
                try await Task.sleep(for: .milliseconds(number("ms", 10)))
            } catch {
                if report { TestApplication.report("sleep \(target) ended: \(error)") }
                throw error
            }
            return TestApplication.text("slept\n")
        case "/linger":
            // Awaits work that does not honour cancellation (a detached Task's timer): the
            // handler outlives a client that left, and a stopping worker must wait for it.
            // Says on standard error when it began and when it ended.
            let target = request.target
            let milliseconds = number("ms", 1000)
            TestApplication.report("linger began \(target)")
            await Task.detached { try? await Task.sleep(for: .milliseconds(milliseconds)) }.value
            TestApplication.report("linger ended \(target)")
            return TestApplication.text("lingered\n")
        case "/slow":
            // The sync application's /slow, awaiting instead of blocking: the benchmark's
            // I/O-bound route in both modes (bench/, io-10ms-c256).
            try await Task.sleep(for: .milliseconds(number("ms", 1000)))
            return TestApplication.text("slow done\n")
        case "/async-stream":
            // `chunks` chunks of `size` bytes (`x`), `pause-ms` between them; each write
            // waits for the client through the event loop.
            let chunks = number("chunks", 3)
            let size = number("size", 8)
            let pause = number("pause-ms", 0)
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            let label = request.target
            return Response(
                headers: [.contentType: "application/octet-stream"],
                body: .asyncStream { writer in
                    do {
                        for index in 0..<chunks {
                            try await writer.write(chunk)
                            if pause > 0 && index < chunks - 1 { try await Task.sleep(for: .milliseconds(pause)) }
                        }
                    } catch {
                        TestApplication.report("async stream \(label) ended: \(error)")
                        throw error
                    }
                    TestApplication.report("async stream \(label) complete")
                })
        case "/body-chunks":
            // The body as an AsyncSequence of chunks: how many, how long, a checksum.
            var count = 0
            var length = 0
            var sum: UInt64 = 0
            for try await chunk in try request.body.chunks(maximumLength: number("max", 65536)) {
                count += 1
                length += chunk.count
                for byte in chunk { sum = sum &+ UInt64(byte) }
            }
            return TestApplication.text("chunks=\(count) length=\(length) sum=\(sum)\n")
        case "/upload-hash":
            // A streamed upload, hashed (FNV-1a, 64 bits) as it arrives. `gate`: first wait,
            // without reading, until /gate-open opens that gate (the loop must stop reading
            // meanwhile); `report`: say on standard error when the first chunk arrived.
            let label = request.target
            if let gate = request.queryItems.first(where: { $0.name == "gate" })?.value {
                TestApplication.report("upload \(label) waits at gate \(gate)")
                await Gates.shared.pass(gate)
            }
            var hash = UploadHash()
            var count = 0
            do {
                for try await chunk in try request.body.chunks() {
                    if count == 0 && request.queryItems.contains(where: { $0.name == "report" }) {
                        TestApplication.report("upload first chunk \(label) \(chunk.count)")
                    }
                    count += 1
                    hash.add(chunk)
                }
            } catch {
                TestApplication.report("upload \(label) failed: \(error)")
                throw error
            }
            return TestApplication.text("length=\(hash.length) hash=\(hash.value)\n")
        case "/gate-open":
            Gates.shared.open(request.queryItems.first { $0.name == "name" }?.value ?? "")
            return TestApplication.text("open\n")
        case "/refuse-upload":
            // Answers before reading the body (an upload refused at its head).
            return Response(status: .forbidden, headers: [.contentType: "text/plain"], body: "refused\n")
        case "/receive":
            // The whole streamed body, stored as the default mode stores it.
            try await request.body.receive()
            return try TestApplication.bodyInfo(request.body)
        case "/refuse-after-await":
            // A typed error thrown after an await.
            await Task.yield()
            throw TestApplication.Refusal(status: HTTPResponse.Status(code: number("code", 409)))
        case "/throw-after-await":
            await Task.yield()
            throw TestApplication.Failure()
        default:
            return try TestApplication.respond(to: request)
        }
    }
}

/// FNV-1a over 64 bits: the upload tests' checksum (the test computes the same).
struct UploadHash {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    private(set) var length = 0

    mutating func add(_ bytes: [UInt8]) {
        var hash = value
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        value = hash
        length += bytes.count
    }
}

/// Named gates a handler waits at until a request opens them (the upload tests hold a
/// handler without reading, for as long as the test needs).
final class Gates: Sendable {
    static let shared = Gates()

    private struct State {
        var open: Set<String> = []
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }
    private let state = Mutex(State())

    func pass(_ name: String) async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLock { state in
                if state.open.contains(name) { return true }
                state.waiting[name, default: []].append(continuation)
                return false
            }
            if isOpen { continuation.resume() }
        }
    }

    func open(_ name: String) {
        let waiting = state.withLock { state in
            state.open.insert(name)
            return state.waiting.removeValue(forKey: name) ?? []
        }
        for continuation in waiting { continuation.resume() }
    }
}
