import Logging

/// Where a server's listening sockets come from, and getting them: the one set-up shared
/// by the cluster's master and the single-process path.
///
/// In order: the sockets a previous image handed over (a hot restart: none is ever closed,
/// so no connection is refused), the sockets systemd passed (socket activation; `--bind`
/// is then ignored), or `--bind` bound now. Both hand-overs are read from the environment,
/// and removed from it, before anything else (`takeFromEnvironment`), so no process this
/// one starts believes they are its own.
struct ListenerSetup {
    /// What a previous image handed over, when this process is a hot restart.
    let inheritance: HotRestart.Inheritance?
    /// The descriptors systemd passed (socket activation).
    let activated: [Int32]

    static func takeFromEnvironment() -> ListenerSetup {
        ListenerSetup(
            inheritance: HotRestart.takeInheritance(), activated: SystemdNotify.takeActivatedDescriptors())
    }

    /// The listening sockets for worker slots `0 ..< slots`: every socket a worker serves,
    /// and with reuseport one socket per address per slot. `mode` applies to the addresses
    /// bound now (inherited sockets keep theirs). A bind error is thrown before anything
    /// is forked.
    ///
    /// After a hot restart into fewer slots, the sockets of the extra inherited slots are
    /// closed here but stay open in the previous image's workers until they exit:
    /// `previousImageSlots` names those slots (their sockets are still members of the
    /// reuseport groups meanwhile).
    ///
    /// `metricsBind`: the metrics server's address (inherited when it is the same).
    func open(
        binds: [String], mode: Configuration.ListenerMode, slots: Int, backlog: Int, metricsBind: String? = nil
    ) throws -> (listeners: ClusterListeners, previousImageSlots: Range<Int>) {
        let listeners = ClusterListeners(backlog: backlog)
        if let inheritance {
            listeners.adoptInherited(inheritance.sockets)
            listeners.dropBinds(notIn: binds)
            let inheritedBinds = Set(listeners.all.map(\.bind))
            let activatedBefore = listeners.all.contains { $0.activated }
            for bind in binds where !inheritedBinds.contains(bind) && !activatedBefore {
                try listeners.add(bind: bind, mode: mode)
            }
        } else if !activated.isEmpty {
            listeners.adoptActivated(activated)
        } else {
            try listeners.bind(binds, mode: mode, slots: slots)
        }
        try listeners.ensureSlots(slots)
        do {
            try listeners.setMetrics(bind: metricsBind)
        } catch {
            listeners.closeAll()
            throw error
        }
        let previousImageSlots = slots..<max(slots, listeners.usesReusePort ? listeners.perSlot.count : 0)
        listeners.removeSlots(from: slots)
        return (listeners, previousImageSlots)
    }

    /// One line per address served (and one saying `--bind` was ignored, with socket
    /// activation).
    func logListening(_ listeners: ClusterListeners, logger: Logger) {
        if inheritance == nil && !activated.isEmpty {
            logger.info("socket activation: serving the listeners systemd passed; --bind ignored")
        }
        for socket in listeners.logged {
            var metadata: Logger.Metadata = ["url": "\(socket.url)"]
            if let proxy = socket.options.proxyProtocol { metadata["proxy_protocol"] = "\(proxy.rawValue)" }
            if socket.activated { metadata["activated"] = "true" }
            if inheritance != nil { metadata["inherited"] = "true" }
            logger.info("listening", metadata: metadata)
        }
        for socket in listeners.metrics {
            logger.info("metrics listening", metadata: ["url": "\(socket.url)"])
        }
    }
}
