import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// The shared-memory stats: `capacity` fixed-layout `rv_stats` cells in one
/// MAP_SHARED | MAP_ANONYMOUS mapping made by the master before it forks, so every worker
/// writes its own cell (relaxed atomics, in the engine) and the master reads them all.
///
/// A cell belongs to one worker process, not to a slot: during a phased restart the old
/// and the new worker of a slot both run and both count. Cells are handed out from a free
/// list, zeroed before each fork, and freed when the master reaps the process.
final class StatsRegion {
    let capacity: Int
    private let base: UnsafeMutablePointer<rv_stats>
    private var free: [Int]

    init(capacity: Int) throws {
        let size = capacity * MemoryLayout<rv_stats>.stride
        let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw RaptorError.system("mapping \(size) bytes of shared memory for the stats", errno)
        }
        memset(mapping, 0, size)
        self.capacity = capacity
        base = mapping.bindMemory(to: rv_stats.self, capacity: capacity)
        free = Array((0..<capacity).reversed())
    }

    deinit {
        munmap(base, capacity * MemoryLayout<rv_stats>.stride)
    }

    /// A zeroed cell, or nil when every cell is taken.
    func allocate() -> Int? {
        guard let cell = free.popLast() else { return nil }
        reset(cell)
        return cell
    }

    func release(_ cell: Int) {
        reset(cell)
        free.append(cell)
    }

    func cell(_ index: Int) -> UnsafeMutablePointer<rv_stats> { base + index }

    subscript(cell: Int, stat: rv_stat) -> UInt64 {
        get { rv_stats_get(base + cell, stat) }
        set { rv_stats_set(base + cell, stat, newValue) }
    }

    private func reset(_ cell: Int) {
        for stat in StatsRegion.allStats { rv_stats_set(base + cell, stat, 0) }
    }

    /// Every counter, in the header's order.
    static let allStats: [rv_stat] = (0..<Int(RV_STAT_COUNT.rawValue)).map { rv_stat(rawValue: UInt32($0)) }

    /// The snake_case name of a counter, as in the stats file.
    static func name(_ stat: rv_stat) -> String { String(cString: rv_stat_name(stat)) }
}
