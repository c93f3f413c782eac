import Foundation
import Raptor
import RaptorTesting
import Testing

/// What the in-process engine leaves behind in its process: no thread, no descriptor, no
/// signal disposition or mask changed. Counting threads and descriptors needs a process
/// where nothing else runs (this test binary runs the suites in parallel), so the counting
/// test runs alone in a child process of this binary, which the parent test starts.
@Suite struct IsolatedProcessTests {
    static let childVariable = "RAPTOR_TESTING_ISOLATED_CHILD"
    static var inChild: Bool { ProcessInfo.processInfo.environment[childVariable] == "1" }

    @Test func stopLeavesNoThreadDescriptorOrSignalBehind() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [
            "--testing-library", "swift-testing", "--filter", "IsolatedProcessTests/countedInAChildProcess",
        ]
        process.environment = ProcessInfo.processInfo.environment.merging([Self.childVariable: "1"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let killer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: killer)
        // Waited for off the test's thread: other tests go on meanwhile.
        let text = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        killer.cancel()
        let ending = "\(process.terminationReason == .exit ? "exit status" : "signal") \(process.terminationStatus)"
        #expect(
            process.terminationReason == .exit && process.terminationStatus == 0, "child ended by \(ending): \(text)")
        // The child ran the test (not zero tests through a filter that matched nothing).
        #expect(text.contains("countedInAChildProcess") && text.contains("passed"), "\(text)")
    }

    @Test(.enabled(if: inChild, "runs alone, in the child process stopLeavesNoThreadDescriptorOrSignalBehind starts"))
    func countedInAChildProcess() throws {
        // The default disposition: a SIGPIPE the engine let through would end this process.
        signal(SIGPIPE, SIG_DFL)
        let initial = ProcessState.now()
        // Warm up what the process keeps once used (the logger, the runtime's caches).
        for dispatch in Fixture.Dispatch.allCases { try exercise(dispatch, baseline: nil) }
        let baseline = ProcessState.now()
        #expect(baseline.signals == initial.signals)
        for dispatch in Fixture.Dispatch.allCases { try exercise(dispatch, baseline: baseline) }
        let after = ProcessState.now()
        #expect(after.descriptors == baseline.descriptors)
        #expect(after.threads == 0)
        #expect(after.signals == initial.signals)
    }

    /// An application and a server, each with a request of every kind, a client gone in the
    /// middle of a large response, and a client still connected at the stop.
    private func exercise(_ dispatch: Fixture.Dispatch, baseline: ProcessState?) throws {
        let app = try dispatch.application()
        let server = try TestServer(configuration: dispatch.configuration, handler: Fixture.handler)
        for client in [try app.connect(), try server.connect()] {
            for path in ["/hello", "/stream", "/file", "/teapot", "/broken"] {
                _ = try client.send(.get(path))
            }
        }
        for client in [try app.connect(), try server.connect()] {
            try client.write(.get("/large"))
            client.close()
        }
        let open = try app.connect()
        _ = try open.send(.get("/hello"))
        let openToServer = try server.connect()
        _ = try openToServer.send(.get("/hello"))
        if let baseline {
            let serving = ProcessState.now()
            // The loop threads and the app threads, seen: the count would see them stay.
            let engineThreads = 2 * (1 + dispatch.configuration.threads)
            #expect(serving.threads == engineThreads)
            #expect(serving.descriptors > baseline.descriptors)
            #expect(serving.signals == baseline.signals)
        }
        try app.stop()
        try server.stop()
    }
}

/// Threads, descriptors and signal state of this process.
struct ProcessState: Equatable {
    /// The in-process engines' threads.
    var threads: Int
    var descriptors: Int
    /// The disposition of TERM, INT, PIPE and CHLD (handler, flags, the signals it blocks),
    /// and the signals this thread blocks.
    var signals: [[UInt64]]

    static func now() -> ProcessState {
        // Named: the runtime's own threads come and go.
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let threads = tasks.count {
            (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) == InProcessWorker.threadName
                + "\n"
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
        var signals: [[UInt64]] = []
        for number in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] {
            var action = sigaction()
            sigaction(number, nil, &action)
            let handler = withUnsafeBytes(of: &action.__sigaction_handler) { $0.load(as: UInt64.self) }
            signals.append([handler, UInt64(UInt32(bitPattern: action.sa_flags)), members(of: &action.sa_mask)])
        }
        var mask = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &mask)
        signals.append([members(of: &mask)])
        return ProcessState(threads: threads, descriptors: descriptors, signals: signals)
    }

    /// Signals 1 to 64 of the set, as bits (the rest of a glibc sigset_t is not the kernel's).
    private static func members(of set: inout sigset_t) -> UInt64 {
        (1...64).reduce(0) { bits, number in sigismember(&set, Int32(number)) == 1 ? bits | 1 << (number - 1) : bits }
    }
}
