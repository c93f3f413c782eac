import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Which socket of a SO_REUSEPORT group gets each new connection.
///
/// A group's indices are the order in which its sockets joined (their listen(2)); when a
/// socket leaves (its last descriptor closed), the kernel moves the group's last socket
/// into its place. `ReuseportGroup` follows the same rules, so the master knows which index
/// is which slot's socket.
struct ReuseportGroup: Equatable {
    enum Member: Equatable {
        case slot(Int)
        /// A removed slot's socket, still open in its stopping worker.
        case retired(Int)
    }

    private(set) var members: [Member]

    init(slots: Int) {
        members = (0..<slots).map { .slot($0) }
    }

    /// A new slot's socket joined the group.
    mutating func join(slot: Int) {
        members.append(.slot(slot))
    }

    /// The slot was removed; its socket stays in the group until its last descriptor closes.
    mutating func retire(slot: Int, id: Int) {
        if let index = members.firstIndex(of: .slot(slot)) { members[index] = .retired(id) }
    }

    /// The retired socket closed: the last member moves into its place, as in the kernel's
    /// reuseport_detach_sock.
    mutating func leave(retired id: Int) {
        guard let index = members.firstIndex(of: .retired(id)) else { return }
        let last = members.removeLast()
        if index < members.count { members[index] = last }
    }

    /// The group indices of `slots`, in group order.
    func indices(of slots: Set<Int>) -> [Int] {
        members.indices.filter { index in
            if case .slot(let slot) = members[index] { return slots.contains(slot) }
            return false
        }
    }

    var count: Int { members.count }
}

/// Steers new connections to the reuseport sockets of the slots whose worker accepts now,
/// and retires the sockets of a slot removed by TTOU without stranding a connection.
///
/// By default the kernel hashes a connection's addresses over every socket of the group,
/// so a worker that stops accepting (stopped, hung, paused by its own backpressure, not
/// booted yet, or leaving after TTOU) still gets its share of new connections, which wait
/// in its queue. Instead, a classic BPF program is attached to each group
/// (`SO_ATTACH_REUSEPORT_CBPF`): a random number modulo the count of eligible sockets,
/// mapped to their indices in the group. It is replaced whenever the eligible set changes.
///
/// Which slots are eligible is the master's call (it knows its workers); this type owns
/// the group's order, the program attached, and the retirements.
final class ReuseportSteering {
    /// A slot removed by TTOU: new connections are steered away from its sockets at once,
    /// its worker goes on accepting until their queues are empty, and only then stops.
    private struct Retirement {
        let id: Int
        let sockets: [ClusterSocket]
        let since: Double
        /// Workers that still hold the sockets.
        var holders: Set<pid_t>
        var stopped = false
    }

    /// How long a retirement waits before it trusts an empty accept queue: a connection
    /// whose SYN the kernel gave the socket before the new program was attached may still
    /// be finishing its handshake.
    static let retirementSettleTime = 0.05
    /// The longest a retired slot's worker is left accepting: one that no longer accepts
    /// (stopped, hung) would otherwise keep its sockets open for ever.
    static let retirementLimit = 2.0

    private let listeners: ClusterListeners
    private let logger: Logger
    /// The reuseport groups' order of sockets (every group has the same order: one socket
    /// per slot, made in the same order).
    private(set) var group: ReuseportGroup
    /// The group indices the attached program chooses from (nil before the first attach).
    private var steeredIndices: [Int]?
    /// Off after a failed attach, or with RAPTOR_STEERING=off in the environment.
    private var disabled = getenv("RAPTOR_STEERING").map { String(cString: $0) } == "off"
    private var retirements: [Retirement] = []
    private var retirementCount = 0
    /// Retired group members whose sockets the previous image's workers still hold.
    private var heldByPreviousImage: [Int] = []

    /// Steering for the reuseport sockets of `listeners`, whose groups hold one socket per
    /// slot of `0 ..< slots` and, after a hot restart into fewer workers, the closed sockets
    /// of `previousImageSlots` that the previous image's workers hold until they exit.
    init(listeners: ClusterListeners, slots: Int, previousImageSlots: Range<Int>, logger: Logger) {
        self.listeners = listeners
        self.logger = logger
        group = ReuseportGroup(slots: slots + previousImageSlots.count)
        for slot in previousImageSlots {
            group.retire(slot: slot, id: -1 - slot)
            heldByPreviousImage.append(-1 - slot)
        }
    }

    /// Whether `steer` would do anything: steering is on and there is a choice to make.
    var isActive: Bool { !disabled && group.count > 1 }

    /// TTIN added `slot`; its sockets were appended to the groups.
    func join(slot: Int) {
        group.join(slot: slot)
    }

    /// Points the groups at the sockets of `eligible` slots, or of all `slotCount` slots if
    /// none is eligible.
    func steer(toward eligible: Set<Int>, slotCount: Int) {
        guard isActive else { return }
        let chosen = eligible.isEmpty ? Set(0..<slotCount) : eligible
        let indices = group.indices(of: chosen)
        guard indices != steeredIndices, !indices.isEmpty else { return }
        for fd in listeners.groupDescriptors {
            if let code = Self.attach(to: fd, choosing: indices) {
                disabled = true
                logger.warning(
                    "cannot steer new connections (SO_ATTACH_REUSEPORT_CBPF); the kernel's hash spreads them",
                    metadata: ["error": "\(String(cString: strerror(code)))"])
                return
            }
        }
        steeredIndices = indices
        logger.debug(
            "new connections steered",
            metadata: ["workers": "\(chosen.sorted().map(String.init).joined(separator: ","))"])
    }

    // MARK: Retiring a removed slot's sockets

    /// TTOU removed `slot`, whose `sockets` its `holders` still accept from. Returns false
    /// when steering is off: the caller then stops the holders and closes the sockets at
    /// once. Otherwise the slot leaves the set steered to (the caller steers again now) and
    /// `advanceRetirements` stops the holders once the sockets' queues are empty.
    func retire(slot: Int, sockets: [ClusterSocket], holders: Set<pid_t>, now: Double) -> Bool {
        guard !disabled, !sockets.isEmpty else { return false }
        retirementCount += 1
        group.retire(slot: slot, id: retirementCount)
        retirements.append(Retirement(id: retirementCount, sockets: sockets, since: now, holders: holders))
        return true
    }

    /// A retired slot's workers are stopped (`stop`) once the accept queues of its sockets
    /// are empty (new connections go elsewhere already), or after `retirementLimit` at most;
    /// the master's copies of the sockets are closed at that moment. A socket leaves its
    /// group when the last descriptor (the worker's, at exit) is closed.
    func advanceRetirements(_ now: Double, stop: (pid_t) -> Void) {
        for index in retirements.indices where !retirements[index].stopped {
            let retirement = retirements[index]
            let queued = retirement.sockets.reduce(0) { $0 + (Self.acceptQueueLength($1.fd) ?? 0) }
            let waited = now - retirement.since
            guard (waited >= Self.retirementSettleTime && queued == 0) || waited > Self.retirementLimit else {
                continue
            }
            for pid in retirement.holders { stop(pid) }
            ClusterListeners.closeAll(retirement.sockets)
            retirements[index].stopped = true
        }
        let done = retirements.filter { $0.stopped && $0.holders.isEmpty }
        for retirement in done { group.leave(retired: retirement.id) }
        retirements.removeAll { $0.stopped && $0.holders.isEmpty }
    }

    /// A worker was reaped: it holds no retired socket any more.
    func workerExited(_ pid: pid_t) {
        for index in retirements.indices { retirements[index].holders.remove(pid) }
    }

    /// The previous image's workers are all gone, and with them the sockets of the slots
    /// this image did not keep.
    func previousImageExited() {
        for id in heldByPreviousImage { group.leave(retired: id) }
        heldByPreviousImage = []
    }

    // MARK: The kernel's side

    /// SO_ATTACH_REUSEPORT_CBPF from <asm-generic/socket.h> (Linux 4.5).
    static let attachOption: Int32 = 51

    /// The program: `A = random % indices.count`, then return `indices[A]`. With every
    /// index eligible in order, it is `return A`.
    static func program(choosing indices: [Int]) -> [UInt8] {
        var code: [(UInt16, UInt8, UInt8, UInt32)] = []
        // ld [SKF_AD_OFF + SKF_AD_RANDOM]: BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF = -0x1000, RANDOM = 56.
        code.append((0x20, 0, 0, 0xFFFF_F000 &+ 56))
        // A %= count: BPF_ALU | BPF_MOD | BPF_K.
        code.append((0x94, 0, 0, UInt32(max(1, indices.count))))
        if indices == Array(0..<indices.count) {
            code.append((0x16, 0, 0, 0))  // BPF_RET | BPF_A
        } else {
            for (position, index) in indices.enumerated().dropLast() {
                code.append((0x15, 0, 1, UInt32(position)))  // BPF_JMP | BPF_JEQ | BPF_K: next if equal
                code.append((0x06, 0, 0, UInt32(index)))  // BPF_RET | BPF_K
            }
            code.append((0x06, 0, 0, UInt32(indices.last ?? 0)))
        }
        var bytes: [UInt8] = []
        for (operation, jumpTrue, jumpFalse, constant) in code {
            // struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }, in host order.
            withUnsafeBytes(of: operation) { bytes += $0 }
            bytes += [jumpTrue, jumpFalse]
            withUnsafeBytes(of: constant) { bytes += $0 }
        }
        return bytes
    }

    /// Attaches the program choosing `indices` to the group `fd` belongs to; the errno on
    /// failure (an old kernel), nil on success.
    static func attach(to fd: Int32, choosing indices: [Int]) -> Int32? {
        var instructions = program(choosing: indices)
        let count = instructions.count / 8
        return instructions.withUnsafeMutableBytes { filter -> Int32? in
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
            var fprog = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: UInt16(count)) { fprog.replaceSubrange(0..<2, with: $0) }
            withUnsafeBytes(of: filter.baseAddress) { fprog.replaceSubrange(8..<16, with: $0) }
            let result = fprog.withUnsafeBytes {
                setsockopt(fd, SOL_SOCKET, attachOption, $0.baseAddress, socklen_t(16))
            }
            return result == 0 ? nil : errno
        }
    }

    /// Connections waiting in a listening socket's accept queue (TCP_INFO reports it as
    /// `tcpi_unacked` for a listener); nil when the socket cannot say.
    static func acceptQueueLength(_ fd: Int32) -> Int? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return Int(info.tcpi_unacked)
    }
}
