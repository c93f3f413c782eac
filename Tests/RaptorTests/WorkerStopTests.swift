// The engine's stop contract (raptor.h), driven through the C API: a stop asked before
// rv_worker_run is remembered, and the worker stops as soon as its loop runs: at once when
// no connection is open, not after the shutdown timeout.

import CRaptor
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

private func unusedHandler(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {}

final class WorkerStopTests: XCTestCase {
    /// A listening TCP socket on 127.0.0.1 and an ephemeral port.
    private func listeningSocket() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return fd
    }

    func testStopAskedBeforeTheLoopRunsEndsAnIdleWorkerAtOnce() throws {
        let listener = try listeningSocket()
        defer { close(listener) }
        // rv_worker_run installs INT and TERM handlers for the process: give this test
        // process its own back afterwards.
        var savedTerm = sigaction()
        var savedInt = sigaction()
        sigaction(SIGTERM, nil, &savedTerm)
        sigaction(SIGINT, nil, &savedInt)
        defer {
            sigaction(SIGTERM, &savedTerm, nil)
            sigaction(SIGINT, &savedInt, nil)
        }
        var stats = rv_stats()
        let descriptors = [listener]
        rv_worker_request_stop()
        let start = ContinuousClock.now
        let result = descriptors.withUnsafeBufferPointer { fds in
            withUnsafeMutablePointer(to: &stats) { statsPointer in
                var config = rv_worker_config()
                config.listen_fds = fds.baseAddress
                config.listen_count = 1
                config.limits = rv_limits(
                    max_target: 8192, max_head: 16384, max_fields: 100, max_body: 1 << 20, body_memory_max: 1 << 20)
                config.first_data_timeout = 30
                config.keepalive_timeout = 30
                config.request_timeout = 30
                config.body_timeout = 30
                config.write_timeout = 30
                config.shutdown_timeout = 10
                config.max_keepalive_requests = 100
                config.stats = statsPointer
                config.handler = unusedHandler
                return rv_worker_run(&config)
            }
        }
        let elapsed = start.duration(to: ContinuousClock.now)
        XCTAssertEqual(result, 0)
        XCTAssertLessThan(
            elapsed, .seconds(2),
            "an idle worker told to stop before its loop ran waited for the shutdown timeout (10 s)")
        XCTAssertEqual(rv_stats_get(&stats, RV_STAT_BOOTED), 1, "the worker ran")
    }
}
