internal import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// The shared-memory stats: one MAP_SHARED | MAP_ANONYMOUS mapping made by the master
/// before it forks, holding
///
/// - the master's own words (`ClusterValue`): its life-cycle state, readiness, how many
///   workers serve, its heartbeat; and the worker restarts by reason (`RestartReason`);
/// - `retired`: the counters of every worker that exited, added up when it is reaped, so
///   the cluster's totals never go down when a worker is replaced;
/// - `metricsServer`: the cell of the metrics server's own engine (its requests are not
///   the application's);
/// - `capacity` fixed-layout `rv_stats` cells, one per worker process: every worker writes
///   its own cell (relaxed atomics, in the engine), the master and the metrics server read
///   them all.
///
/// A cell belongs to one worker process, not to a slot: during a phased restart the old
/// and the new worker of a slot both run and both count. Cells are handed out from a free
/// list, zeroed before each fork, and freed when the master reaps the process; a cell in
/// use has a pid. Freeing a cell moves its counters into `retired` under a sequence lock,
/// so a reader in another process never counts a worker twice or not at all.
final class StatsRegion {
    /// The master's words, in order.
    enum ClusterValue: Int, CaseIterable {
        /// The sequence lock over `retired` and the cells being freed.
        case sequence
        case masterPid
        /// Unix seconds.
        case startedAt
        /// `MasterLifeCycle.code`.
        case lifeCycle
        /// 1 while the cluster takes traffic (`/readyz`).
        case ready
        /// Workers booted, not stopping, with a fresh heartbeat (`/healthz` wants one).
        case servingWorkers
        case workersConfigured
        case phase
        /// CLOCK_MONOTONIC milliseconds, written on each turn of the master's loop.
        case heartbeat
    }

    /// Room for the master's words and the restart counts (more than used, so both lists
    /// may grow without moving anything else).
    private static let clusterWords = 32
    private static let restartWords = 32

    let capacity: Int
    private let mapping: UnsafeMutableRawPointer
    private let size: Int
    private let words: UnsafeMutablePointer<UInt64>
    /// What the workers that exited counted (counters and duration buckets only).
    let retired: UnsafeMutablePointer<rv_stats>
    let metricsServer: UnsafeMutablePointer<rv_stats>
    private let base: UnsafeMutablePointer<rv_stats>
    private var free: [Int]

    init(capacity: Int) throws {
        let header = (Self.clusterWords + Self.restartWords) * MemoryLayout<UInt64>.stride
        let size = header + (capacity + 2) * MemoryLayout<rv_stats>.stride
        let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw RaptorError.system("mapping \(size) bytes of shared memory for the stats", errno)
        }
        memset(mapping, 0, size)
        self.capacity = capacity
        self.mapping = mapping
        self.size = size
        words = mapping.bindMemory(to: UInt64.self, capacity: Self.clusterWords + Self.restartWords)
        let cells = (mapping + header).bindMemory(to: rv_stats.self, capacity: capacity + 2)
        retired = cells
        metricsServer = cells + 1
        base = cells + 2
        free = Array((0..<capacity).reversed())
        precondition(ClusterValue.allCases.count <= Self.clusterWords)
        precondition(RestartReason.allCases.count <= Self.restartWords)
    }

    deinit {
        munmap(mapping, size)
    }

    // MARK: The master's words

    subscript(value: ClusterValue) -> UInt64 {
        get { rv_shared_load(words + value.rawValue) }
        set { rv_shared_store(words + value.rawValue, newValue) }
    }

    func countRestart(_ reason: RestartReason, by count: Int = 1) {
        let word = words + Self.clusterWords + reason.index
        rv_shared_store(word, rv_shared_load(word) &+ UInt64(count))
    }

    func restarts(_ reason: RestartReason) -> UInt64 {
        rv_shared_load(words + Self.clusterWords + reason.index)
    }

    // MARK: Worker cells

    /// A zeroed cell, or nil when every cell is taken.
    func allocate() -> Int? {
        guard let cell = free.popLast() else { return nil }
        reset(cell)
        return cell
    }

    /// The worker of `cell` was reaped: what it counted joins `retired`, and the cell is free.
    func release(_ cell: Int) {
        let sequence = words + ClusterValue.sequence.rawValue
        rv_seqlock_write_begin(sequence)
        rv_stats_accumulate(retired, base + cell)
        reset(cell)
        rv_seqlock_write_end(sequence)
        free.append(cell)
    }

    func cell(_ index: Int) -> UnsafeMutablePointer<rv_stats> { base + index }

    subscript(cell: Int, stat: rv_stat) -> UInt64 {
        get { rv_stats_get(base + cell, stat) }
        set { rv_stats_set(base + cell, stat, newValue) }
    }

    /// The cells that belong to a worker now (they have a pid), read in another process.
    var cellsInUse: [UnsafeMutablePointer<rv_stats>] {
        (0..<capacity).map { base + $0 }.filter { rv_stats_get($0, RV_STAT_PID) != 0 }
    }

    /// Runs `read` until no cell was freed while it ran (the sequence lock's reader side):
    /// what it returns saw each exited worker either in its cell or in `retired`, never both.
    func consistentRead<T>(_ read: () -> T) -> T {
        let sequence = words + ClusterValue.sequence.rawValue
        while true {
            let begun = rv_seqlock_read_begin(sequence)
            let result = read()
            if rv_seqlock_read_retry(sequence, begun) == 0 { return result }
            sched_yield()
        }
    }

    private func reset(_ cell: Int) {
        // Plain stores are enough: a cell being reset belongs to no running process.
        memset(base + cell, 0, MemoryLayout<rv_stats>.stride)
    }

    /// Every counter, in the header's order.
    static let allStats: [rv_stat] = (0..<Int(RV_STAT_COUNT.rawValue)).map { rv_stat(rawValue: UInt32($0)) }

    /// The snake_case name of a counter, as in the stats file.
    static func name(_ stat: rv_stat) -> String { String(cString: rv_stat_name(stat)) }
}

/// Why a worker was replaced or started again; counted in the shared memory
/// (`raptor_worker_restarts_total{reason}`) and named in the log.
enum RestartReason: String, CaseIterable, Sendable {
    /// It exited (or was killed by a signal) without being told to.
    case crash
    /// Killed: it did not boot within --worker-boot-timeout.
    case bootTimeout = "boot_timeout"
    /// Killed: its heartbeat stopped for --worker-timeout.
    case heartbeatTimeout = "heartbeat_timeout"
    /// USR2.
    case phasedRestart = "phased_restart"
    /// HUP: the previous image's workers, replaced by the new image's.
    case hotRestart = "hot_restart"
    /// Recycled past --worker-max-rss.
    case maxRSS = "max_rss"
    /// Recycled past --worker-max-requests.
    case maxRequests = "max_requests"

    var index: Int { Self.allCases.firstIndex(of: self)! }
}
