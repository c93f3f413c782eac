#if canImport(Glibc)
    import Glibc
#endif

/// One listening socket held by the master.
struct ClusterSocket: Equatable {
    var fd: Int32
    /// Where it really listens: `tcp://127.0.0.1:43817`, `unix:///run/app.sock`.
    var url: String
    /// The `--bind` value it serves ("" for a socket systemd passed in).
    var bind: String
    /// The worker slot that owns it (reuseport), nil when every worker accepts from it.
    var slot: Int?
    /// A Unix socket file this server created (and removes at exit).
    var ownsPath: String?
    /// Passed in by systemd socket activation.
    var activated: Bool
    /// The metrics server's socket (`--metrics-bind`): never a worker's.
    var metrics = false

    /// The options of its `--bind` (validated before anything was bound).
    var options: BindOptions { (try? BindOptions(parsing: bind)) ?? BindOptions() }
}

/// Every listening socket of a cluster, bound (or inherited) by the master before it
/// forks, held open by the master for its whole life, so the accept queues outlive any
/// worker: connections waiting in a dead worker's queue are served by its replacement.
///
/// - Shared sockets (Unix sockets, `--listener shared`, socket activation) go to every
///   worker.
/// - Reuseport sockets: one SO_REUSEPORT socket per address per worker slot; slot i's
///   sockets go to the worker of slot i only (and to its replacement during a restart).
///   Slots beyond the first are siblings of slot 0's sockets: same address, same port
///   (even when port 0 was asked for).
final class ClusterListeners {
    private(set) var shared: [ClusterSocket] = []
    /// perSlot[i]: slot i's reuseport sockets, one per reuseport address.
    private(set) var perSlot: [[ClusterSocket]] = []
    /// `--metrics-bind`'s sockets (one per address a host name resolves to), served by the
    /// metrics server alone.
    private(set) var metrics: [ClusterSocket] = []
    let backlog: Int

    init(backlog: Int) {
        self.backlog = backlog
    }

    var all: [ClusterSocket] { shared + perSlot.flatMap { $0 } + metrics }
    var usesReusePort: Bool { !(perSlot.first?.isEmpty ?? true) }

    /// The descriptors a worker of `slot` serves.
    func descriptors(forSlot slot: Int) -> [Int32] { sockets(forSlot: slot).map(\.fd) }

    /// The sockets a worker of `slot` serves (`TLSContexts.served` adds what else it needs).
    func sockets(forSlot slot: Int) -> [ClusterSocket] {
        shared + (slot < perSlot.count ? perSlot[slot] : [])
    }

    /// One line per address for the log (slot 0's reuseport sockets stand for the others).
    var logged: [ClusterSocket] { shared + (perSlot.first ?? []) }

    // MARK: Getting the sockets

    /// Binds every `--bind` address for `slots` worker slots. A bind error is thrown
    /// before anything is forked, and the sockets bound so far are closed.
    func bind(_ binds: [String], mode: Configuration.ListenerMode, slots: Int) throws {
        do {
            for bind in binds { try add(bind: bind, mode: mode) }
            try ensureSlots(slots)
        } catch {
            closeAll()
            throw error
        }
    }

    /// Binds one `--bind` address (for slot 0 when reuseport applies).
    func add(bind: String, mode: Configuration.ListenerMode) throws {
        let address = try BindAddress(parsing: bind)
        guard let port = address.tcpEndpoint?.port, mode == .reuseport else {
            for listener in try Listener.bind(address, backlog: backlog) {
                shared.append(socket(listener, bind: bind, slot: nil))
            }
            return
        }
        // SO_REUSEPORT would quietly share the port with another server run by the same
        // user; a plain bind first tells whether the address is free.
        if port != 0 {
            let probe = try Listener.bind(address, backlog: 1)
            probe.forEach { _ = close($0.fileDescriptor) }
        }
        let listeners = try Listener.bind(address, backlog: backlog, reusePort: true)
        if perSlot.isEmpty { perSlot = [[]] }
        perSlot[0] += listeners.map { socket($0, bind: bind, slot: 0) }
        // Slots already there (a hot restart adding an address) get their siblings.
        for slot in perSlot.indices.dropFirst() {
            perSlot[slot] += try perSlot[0].suffix(listeners.count).map { try sibling(of: $0, slot: slot) }
        }
    }

    /// Sockets passed in by systemd: shared by every worker, never unlinked.
    func adoptActivated(_ descriptors: [Int32]) {
        for fd in descriptors {
            shared.append(
                ClusterSocket(fd: fd, url: Self.url(of: fd), bind: "", slot: nil, ownsPath: nil, activated: true))
        }
    }

    /// Sockets inherited from the master image before a hot restart.
    func adoptInherited(_ sockets: [ClusterSocket]) {
        for socket in sockets {
            if socket.metrics {
                metrics.append(socket)
            } else if let slot = socket.slot {
                while perSlot.count <= slot { perSlot.append([]) }
                perSlot[slot].append(socket)
            } else {
                shared.append(socket)
            }
        }
    }

    /// Makes sure slots 0 ..< count have their reuseport sockets.
    func ensureSlots(_ count: Int) throws {
        guard usesReusePort else { return }
        while perSlot.count < count {
            let slot = perSlot.count
            perSlot.append(try perSlot[0].map { try sibling(of: $0, slot: slot) })
        }
    }

    /// Takes the last slot's reuseport sockets out of the set, still open: the master
    /// closes them once their worker no longer accepts from them.
    func retireLastSlot() -> [ClusterSocket] {
        guard perSlot.count > 1 else { return [] }
        return perSlot.removeLast()
    }

    /// One socket of each reuseport group (one group per address), to steer the group.
    var groupDescriptors: [Int32] { perSlot.first?.map(\.fd) ?? [] }

    static func closeAll(_ sockets: [ClusterSocket]) {
        for socket in sockets { _ = Glibc.close(socket.fd) }
    }

    /// Closes the reuseport sockets of slots `count` and beyond.
    func removeSlots(from count: Int) {
        while perSlot.count > max(count, 1) {
            for socket in perSlot.removeLast() { _ = close(socket.fd) }
        }
    }

    /// The metrics server's sockets for `bind`: the inherited ones when they serve the
    /// same `--metrics-bind`, else new ones (inherited ones for another address are
    /// closed).
    func setMetrics(bind: String?) throws {
        if metrics.contains(where: { $0.bind != bind }) {
            metrics.forEach(release)
            metrics = []
        }
        guard let bind, metrics.isEmpty else { return }
        metrics = try Listener.bind(try BindAddress(parsing: bind), backlog: backlog).map { listener in
            var socket = socket(listener, bind: bind, slot: nil)
            socket.metrics = true
            return socket
        }
    }

    /// Closes sockets inherited for a `--bind` no longer configured.
    /// A socket whose address is still bound but with other options (`?proxy_protocol=`
    /// added, say) is kept and takes the new options: closing it and binding the address
    /// again could not work while the old workers hold it.
    func dropBinds(notIn binds: [String]) {
        let byAddress = Dictionary(binds.map { (BindOptions.address(of: $0), $0) }) { first, _ in first }
        func renew(_ socket: inout ClusterSocket) {
            if let bind = byAddress[BindOptions.address(of: socket.bind)], !socket.activated, !socket.metrics {
                socket.bind = bind
            }
        }
        for index in shared.indices { renew(&shared[index]) }
        for slot in perSlot.indices { for index in perSlot[slot].indices { renew(&perSlot[slot][index]) } }
        let keep: (ClusterSocket) -> Bool = { $0.activated || $0.metrics || binds.contains($0.bind) }
        for socket in all where !keep(socket) { release(socket) }
        shared.removeAll { !keep($0) }
        for slot in perSlot.indices { perSlot[slot].removeAll { !keep($0) } }
        if perSlot.allSatisfy({ $0.isEmpty }) { perSlot = [] }
    }

    /// Closes the sockets that serve requests (not the metrics server's), as a full stop
    /// begins: each stopping worker takes what is queued on its own and lets go of them
    /// (engine.c, release_listeners), so that the sockets close and a client connecting
    /// during the drain is refused, not reset at the exit.
    func closeServing() {
        for socket in shared + perSlot.flatMap({ $0 }) { release(socket) }
        shared = []
        perSlot = []
    }

    /// Closes every socket and removes the Unix socket files this server created.
    func closeAll() {
        closeServing()
        for socket in metrics { release(socket) }
        metrics = []
    }

    private func release(_ socket: ClusterSocket) {
        _ = close(socket.fd)
        if let path = socket.ownsPath { unlink(path) }
    }

    // MARK: Helpers

    private func socket(_ listener: Listener, bind: String, slot: Int?) -> ClusterSocket {
        var ownsPath: String?
        if case .unix(let path) = listener.address { ownsPath = path }
        return ClusterSocket(
            fd: listener.fileDescriptor, url: listener.boundURL, bind: bind, slot: slot, ownsPath: ownsPath,
            activated: false)
    }

    /// Another SO_REUSEPORT socket on the very address `socket` is bound to.
    private func sibling(of socket: ClusterSocket, slot: Int) throws -> ClusterSocket {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.fd, $0, &length) }
        }
        func failure(_ what: String, _ code: Int32) -> RaptorError {
            .bind(address: socket.url, message: "\(what) for worker slot \(slot): \(String(cString: strerror(code)))")
        }
        guard named == 0 else { throw failure("getsockname", errno) }
        let family = Int32(storage.ss_family)
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket", errno) }
        var one: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size)
        if family == AF_INET6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, size) }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, Int32(backlog)) == 0 else {
            let code = errno
            _ = close(fd)
            throw failure("bind", code)
        }
        return ClusterSocket(fd: fd, url: socket.url, bind: socket.bind, slot: slot, ownsPath: nil, activated: false)
    }

    /// `tcp://HOST:PORT` or `unix:///path` of a bound socket.
    static func url(of fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if storage.ss_family == sa_family_t(AF_UNIX) {
            let path = withUnsafeBytes(of: &storage) { raw -> String in
                let offset = MemoryLayout<sa_family_t>.size
                let bytes = raw[offset..<Int(max(length, socklen_t(offset)))].prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            return "unix://" + path
        }
        let host = SocketAddress.numericHost(storage, length: length) ?? "?"
        let port = SocketAddress.port(storage)
        return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
    }
}
