#if canImport(Glibc)
    import Glibc
#endif

/// Which socket of a SO_REUSEPORT group gets each new connection.
///
/// By default the kernel hashes the connection's addresses over every socket of the group,
/// so a worker that stops accepting (stopped, hung, paused by its own backpressure, not
/// booted yet, or leaving after TTOU) still gets its share of new connections, which wait
/// in its queue. The master attaches a classic BPF program to the group instead
/// (`SO_ATTACH_REUSEPORT_CBPF`): a random number modulo the count of eligible sockets, mapped
/// to their indices in the group. It replaces the program whenever the eligible set changes.
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

enum ReuseportSteering {
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
