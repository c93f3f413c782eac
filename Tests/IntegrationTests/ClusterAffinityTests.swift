import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `--cpu-affinity auto`: each worker, with every thread it runs (the event loop and the
/// app threads), on one CPU of those the process may use, round robin; the master and
/// the metrics server are not pinned.
@Suite(.exclusive) final class ClusterAffinityTests: ClusterSuite {
    /// `Cpus_allowed_list` of one thread.
    private func allowedCPUs(_ path: String) -> String? {
        ProcFS.readText(path + "/status")?.split(separator: "\n")
            .first { $0.hasPrefix("Cpus_allowed_list:") }
            .map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) }
    }

    private func threads(of pid: pid_t) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).map {
            "/proc/\(pid)/task/\($0)"
        }
    }

    /// The CPUs this test may use, expanded (`0-1` is [0, 1]).
    private var ourCPUs: [Int] {
        (allowedCPUs("/proc/self") ?? "").split(separator: ",").flatMap { range -> [Int] in
            let ends = range.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    @Test func autoPinsEachWorkerAndItsThreadsToItsOwnCPU() throws {
        let cpus = ourCPUs
        #expect(!cpus.isEmpty)
        let server = try startCluster([
            "-w", "2", "-t", "3", "--cpu-affinity", "auto", "--metrics-bind", "tcp://127.0.0.1:0",
        ])
        let pids = waitForRunningWorkers(2)
        for (slot, pid) in pids {
            let expected = String(cpus[slot % cpus.count])
            let tasks = threads(of: pid)
            #expect(tasks.count >= 4, "the loop and 3 app threads")
            for task in tasks { #expect(allowedCPUs(task) == expected, "worker \(slot), \(task)") }
        }
        let master = allowedCPUs("/proc/\(server.pid)")
        #expect(master == allowedCPUs("/proc/self"), "the master is not pinned")
        let metricsServer = waitForEvents(server, "metrics server booted").first?["pid"] as? String ?? ""
        #expect(allowedCPUs("/proc/\(metricsServer)") == master, "the metrics server is not pinned")
        #expect(get(server.port) == 200)
    }

    @Test func withoutItWorkersRunAnywhere() throws {
        let server = try startCluster(["-w", "2"])
        for pid in waitForRunningWorkers(2).values {
            for task in threads(of: pid) { #expect(allowedCPUs(task) == allowedCPUs("/proc/self")) }
        }
        #expect(get(server.port) == 200)
    }
}
