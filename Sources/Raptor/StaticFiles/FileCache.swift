import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The open-file cache of one worker process, shared by its app threads: what recently
/// served names lead to (`CachedFile`: descriptors or bytes, stat results, validators and
/// response fields), so that a hot file costs no open, stat or path check per request.
///
/// - Bounded: at most `capacity` names; past it, the CLOCK algorithm (an approximation of
///   least-recently-used that needs no list surgery per hit) picks the name to drop.
/// - Revalidated: an entry is trusted for `validity` after it was last checked; the first
///   request after that checks it again (a stat per name and sibling), so a file modified,
///   replaced or deleted on disk is noticed within that time, and a deleted file's old
///   bytes are never served longer. Only that request checks: it claims the check, and
///   the others keep using the entry meanwhile.
/// - Made in the master before the fork and empty then; each worker fills its own copy.
final class FileCache: Sendable {
    enum Lookup {
        /// Checked within `validity`: use it.
        case fresh(CachedFile)
        /// Due for a check, which the caller now owns: compare, then `store` or `remove`.
        case due(CachedFile)
        case absent
    }

    let capacity: Int
    /// How long an entry is trusted without a check, in nanoseconds.
    let validity: Int64

    private struct Slot {
        var file: CachedFile
        var checkedAt: Int64
        var referenced: Bool
    }

    private struct State {
        var slots: [Slot] = []
        var index: [String: Int] = [:]
        var hand = 0
    }

    private let state = Mutex(State())
    /// Nanoseconds on a monotonic clock (tests move it by hand).
    private let now: @Sendable () -> Int64

    init(capacity: Int, validity: Duration = .seconds(1), clock: @escaping @Sendable () -> Int64 = FileCache.monotonic)
    {
        self.capacity = capacity
        let (seconds, attoseconds) = validity.components
        self.validity = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        now = clock
    }

    func lookup(_ name: String) -> Lookup {
        guard capacity > 0 else { return .absent }
        let now = now()
        return state.withLock { state in
            guard let position = state.index[name] else { return .absent }
            state.slots[position].referenced = true
            let slot = state.slots[position]
            if now - slot.checkedAt < validity { return .fresh(slot.file) }
            state.slots[position].checkedAt = now
            return .due(slot.file)
        }
    }

    /// Adds or replaces the entry for `file.name`, checked now.
    func store(_ file: CachedFile) {
        guard capacity > 0 else { return }
        let now = now()
        // Dropped entries are released after the lock: their deinit closes descriptors.
        let dropped: CachedFile? = state.withLock { state in
            let slot = Slot(file: file, checkedAt: now, referenced: false)
            if let position = state.index[file.name] {
                let old = state.slots[position].file
                state.slots[position] = slot
                return old
            }
            if state.slots.count < capacity {
                state.index[file.name] = state.slots.count
                state.slots.append(slot)
                return nil
            }
            // CLOCK: clear the referenced bits the hand passes until one is already clear.
            while state.slots[state.hand].referenced {
                state.slots[state.hand].referenced = false
                state.hand = (state.hand + 1) % state.slots.count
            }
            let victim = state.slots[state.hand].file
            state.index[victim.name] = nil
            state.index[file.name] = state.hand
            state.slots[state.hand] = slot
            state.hand = (state.hand + 1) % state.slots.count
            return victim
        }
        _ = dropped
    }

    /// Forgets `file` (its name no longer leads to it), unless the entry was replaced.
    func remove(_ file: CachedFile) {
        let dropped: CachedFile? = state.withLock { state in
            guard let position = state.index[file.name], state.slots[position].file === file else { return nil }
            state.index[file.name] = nil
            let last = state.slots.count - 1
            if position != last {
                state.slots[position] = state.slots[last]
                state.index[state.slots[position].file.name] = position
            }
            state.slots.removeLast()
            if state.hand >= state.slots.count { state.hand = 0 }
            return file
        }
        _ = dropped
    }

    /// Entries held, for tests.
    var count: Int { state.withLock { $0.slots.count } }

    /// A monotonic clock read without a system call (the vDSO; a few milliseconds coarse,
    /// which is plenty for a one-second validity).
    @Sendable static func monotonic() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
