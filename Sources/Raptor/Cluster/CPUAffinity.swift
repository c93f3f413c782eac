internal import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension Configuration.CPUAffinity {
    /// In a worker just forked (one thread so far, so its app threads inherit the mask):
    /// with `.auto`, the CPU of `slot` among those the process may use, round robin. A
    /// failure is logged and the worker runs unpinned.
    static func pinWorker(slot: Int, mode: Configuration.CPUAffinity, logger: Logger) {
        guard mode == .auto else { return }
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = Int(rv_allowed_cpus(&cpus, Int32(cpus.count)))
        guard count > 0 else {
            logger.warning("--cpu-affinity: cannot read the allowed CPUs", metadata: ["worker": "\(slot)"])
            return
        }
        let cpu = cpus[slot % count]
        if rv_pin_to_cpu(cpu) != 0 {
            logger.warning(
                "--cpu-affinity: cannot pin the worker",
                metadata: ["worker": "\(slot)", "cpu": "\(cpu)", "error": "\(String(cString: strerror(errno)))"])
        }
    }
}
