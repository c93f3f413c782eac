internal import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The master of a cluster: supervises its workers until INT or TERM. It forks one worker
/// per slot, notices boots, enforces the boot, heartbeat and shutdown deadlines, respawns
/// (with backoff), replaces workers without a gap (a phased restart), and adds or removes
/// slots (TTIN, TTOU).
///
/// It is one thread with one loop, and never starts Dispatch or a Swift Task (a child
/// forked after either hangs on its first Dispatch call). Signals are blocked and taken
/// by the loop (`SignalQueue`), which wakes at least every `Interval.loopWake`.
///
/// What is not supervision lives beside it: where the listeners come from
/// (`ListenerSetup`), which worker gets new connections and how a removed slot's sockets
/// retire (`ReuseportSteering`), the hot-restart hand-over in both directions
/// (`HotRestart`, `PreviousImageWorkers`), the order of a phased restart
/// (`PhasedRestart`), the shared-memory stats (`StatsRegion`, `StatsFile`).
final class Master {
    struct Slot {
        /// The worker serving this slot (booting or running).
        var current: pid_t?
        /// A worker booting to take the slot over from `current` (see `replace`).
        var replacement: Replacement?
        var backoff = Backoff()
        /// When to fork the slot's next worker, while it has none.
        var respawnAt: Double? = 0
        /// Recycles of this slot whose new worker died before it booted, in a row, and
        /// when the next may be tried.
        var recycleFailures = 0
        var recycleAfter = 0.0
    }

    struct Replacement {
        let pid: pid_t
        /// Why the slot's worker is replaced: counted once it took over, and what tells a
        /// failed phased restart from a failed recycle.
        let cause: RestartReason
        /// The same for people ("phased restart"): the reason its predecessor stops with,
        /// and the log line's prefix once it took over.
        let reason: String
    }

    /// The master's fixed intervals, in seconds.
    enum Interval {
        /// The loop's longest sleep (a signal wakes it at once): how late at most a boot, a
        /// missed deadline, a backpressure pause or a due respawn is noticed.
        static let loopWake = 0.1
        /// The stats file is rewritten this often (and at once after a change of workers).
        static let statsFile = 1.0
        /// A slot whose fork failed (no free stats cell, EAGAIN) is tried again this much
        /// later, not on every turn of the loop.
        static let forkRetry = 1.0
        /// At --shutdown-timeout a stopping worker's own timer closes what it still has
        /// open and it exits; SIGKILL comes this much later, for one that could not.
        static let killAfterShutdownTimeout = 1.0
        /// A worker whose heartbeat is older than this does not accept (stopped, hung), so
        /// new connections are steered away from it: the heartbeat ticks every second, so
        /// this is one missed tick, with room for a late one.
        static let steeringHeartbeatAge = 1.5
        /// A worker whose heartbeat is older than this does not count as serving for
        /// /healthz and /readyz: more tolerant than steering, so a busy machine that delays
        /// a tick does not flap a balancer's view of the host.
        static let servingHeartbeatAge = 5.0
        /// How often each worker's resident memory is read from /proc (for the metrics and
        /// --worker-max-rss).
        static let memorySample = 1.0
    }

    /// The stop reason of a worker whose slot TTOU removed.
    private static let removedReason = "worker removed (TTOU)"

    let server: Server
    var configuration: Configuration { server.configuration }
    var logger: Logger { server.logger }
    let listeners: ClusterListeners
    let stats: StatsRegion
    /// Shared by every worker, made before the first fork (nil without ssl:// binds).
    let ticketKeys: TLSTicketKeys?
    /// The certificates workers forked from now on serve with; reloaded by USR2.
    private var tls: TLSContexts
    let notify = SystemdNotify()
    private let recycling: WorkerRecycling
    /// The most workers TTIN may reach.
    let maximumWorkers: Int
    private var pidfile: Pidfile?
    private var statsFile: StatsFile?

    private var lifeCycle = MasterLifeCycle.starting
    private var slots: [Slot] = []
    private var workers: [pid_t: WorkerProcess] = [:]
    private var phase = 0
    /// The USR2 restart in progress.
    private var phasedRestart: PhasedRestart?
    /// Workers of the image before a hot restart: stopped once ours have booted.
    private let previousImage: PreviousImageWorkers
    /// Nil without reuseport sockets.
    private let steering: ReuseportSteering?
    /// Nil without --metrics-bind.
    private let metricsServer: MetricsServer?
    /// HUP: the new build running its check, before the hand-over.
    private var hotRestartCheck: HotRestartCheck?
    private var nextStatsWrite = 0.0
    private var nextWatchdog = 0.0
    private var nextMemorySample = 0.0
    private let startedAt = UInt64(time(nil))
    /// Read now: once a new build is installed over it, /proc/self/exe names the old file.
    private let executablePath = HotRestart.executablePath()

    /// Runs a cluster until INT or TERM; returns after every worker is reaped and the
    /// pidfile, stats file and Unix socket files are removed.
    static func run(server: Server) throws {
        try Master(server: server).run()
    }

    private init(server: Server) throws {
        self.server = server
        let configuration = server.configuration
        // First of all: signals wait for the loop from now on.
        SignalQueue.block()
        let setup = ListenerSetup.takeFromEnvironment()
        maximumWorkers = min(Configuration.maximumWorkers, max(configuration.workers * 2, 32))
        recycling = WorkerRecycling(configuration: configuration)

        if let path = configuration.pidfile { pidfile = try Pidfile.claim(path: path) }
        do {
            ticketKeys = configuration.servesTLS ? try TLSTicketKeys(rotation: configuration.tlsTicketRotation) : nil
            tls = try TLSContexts(configuration: configuration, ticketKeys: ticketKeys)
            let opened = try setup.open(
                binds: configuration.binds, mode: configuration.listener, slots: configuration.workers,
                backlog: configuration.backlog, metricsBind: configuration.metricsBind)
            listeners = opened.listeners
            steering =
                listeners.usesReusePort
                ? ReuseportSteering(
                    listeners: listeners, slots: configuration.workers, previousImageSlots: opened.previousImageSlots,
                    logger: server.logger)
                : nil
            stats = try StatsRegion(capacity: maximumWorkers * 2)
        } catch {
            pidfile?.remove()
            throw error
        }
        statsFile = configuration.statsFile.map(StatsFile.init(path:))
        slots = Array(repeating: Slot(), count: configuration.workers)
        stats[.masterPid] = UInt64(getpid())
        stats[.startedAt] = startedAt
        previousImage = PreviousImageWorkers(
            pids: setup.inheritance?.workers ?? [], helpers: setup.inheritance?.helpers ?? [], logger: server.logger)
        metricsServer =
            listeners.metrics.isEmpty ? nil : MetricsServer(server: server, region: stats, sockets: listeners.metrics)
        phase = setup.inheritance?.phase ?? 0

        if setup.inheritance != nil {
            logger.info(
                "hot restart: new master image running",
                metadata: ["pid": "\(getpid())", "old_workers": "\(previousImage.count)", "phase": "\(phase)"])
        }
        setup.logListening(listeners, logger: logger)
        if !tls.isEmpty { logger.info("tls", metadata: ["file_bodies": "\(TLSFilePath.description)"]) }
    }

    private func run() throws {
        logger.info(
            "master started",
            metadata: [
                "pid": "\(getpid())", "workers": "\(slots.count)", "threads": "\(configuration.threads)",
                "listener": "\(listeners.usesReusePort ? "reuseport" : "shared")", "phase": "\(phase)",
                "open_files_limit": "\(OpenFilesLimit.currentText)",
            ])
        server.hooks.beforeFork()
        publish(Monotonic.now())
        // The metrics server first: /readyz answers (503) while the workers boot.
        metricsServer?.supervise(Monotonic.now(), closeInChild: listeners.all.map(\.fd))
        respawnDue(Monotonic.now())
        while true {
            if let signal = SignalQueue.wait(timeout: Interval.loopWake) {
                handle(signal)
                while let next = SignalQueue.wait(timeout: 0) { handle(next) }
            }
            reap()
            let now = Monotonic.now()
            if case .draining(let until) = lifeCycle, now >= until { stopWorkers(now, cause: ["drain_delay": "over"]) }
            if lifeCycle.isStopping {
                if workers.isEmpty && previousImage.isEmpty {
                    // The metrics server last: /readyz said 503 until the end.
                    guard let metricsServer, metricsServer.isRunning else { break }
                    metricsServer.stop(now)
                }
                enforceDeadlines(now)
                periodic(now)
                publish(now)
                continue
            }
            observeBoots(now)
            enforceDeadlines(now)
            steering?.advanceRetirements(now) { pid in
                if let worker = workers[pid] { stop(worker, reason: Self.removedReason, now: now) }
            }
            steer(now)
            promoteBootedReplacements(now)
            advancePhasedRestart()
            stopPreviousImageWhenOursBooted(now)
            respawnDue(now)
            metricsServer?.supervise(now, closeInChild: listeners.all.map(\.fd))
            periodic(now)
            publish(now)
        }
        statsFile?.remove()
        listeners.closeAll()
        pidfile?.remove()
        logger.info("stopped", metadata: ["pid": "\(getpid())"])
    }

    // MARK: Signals

    private func handle(_ signal: Int32) {
        switch signal {
        case SIGINT, SIGTERM, SIGQUIT: beginShutdown(signal)
        case SIGCHLD: break  // reaped by the loop
        case SIGUSR1: logStats()
        case SIGUSR2: beginPhasedRestart()
        case SIGHUP: hotRestart()
        case SIGTTIN: addWorker()
        case SIGTTOU: removeWorker()
        default: break
        }
    }

    /// INT, TERM, QUIT. With --drain-delay the cluster first stops being ready and goes on
    /// serving for that long (`draining`), so a balancer takes the host out before any
    /// connection is refused; a second signal ends the delay.
    private func beginShutdown(_ signal: Int32) {
        let now = Monotonic.now()
        switch lifeCycle {
        case .stopping:
            logger.info("already shutting down", metadata: ["signal": "\(SignalQueue.name(signal))"])
        case .draining:
            stopWorkers(now, cause: ["signal": "\(SignalQueue.name(signal))", "drain_delay": "cut short"])
        case .starting, .serving:
            notify.send("STOPPING=1")
            phasedRestart = nil
            let delay = configuration.drainDelay.seconds
            guard delay > 0 else {
                stopWorkers(now, cause: ["signal": "\(SignalQueue.name(signal))"])
                return
            }
            lifeCycle = .draining(until: now + delay)
            publish(now)  // not ready from this instant
            logger.info(
                "draining: not ready, still serving",
                metadata: ["signal": "\(SignalQueue.name(signal))", "drain_delay": "\(Self.seconds(delay))s"])
        }
    }

    /// The graceful stop itself: every worker is told to stop. `cause`: the signal, or the
    /// end of the drain delay, for the log line.
    private func stopWorkers(_ now: Double, cause: Logger.Metadata) {
        lifeCycle = .stopping
        var metadata = cause
        metadata["workers"] = "\(workers.count + previousImage.count)"
        metadata["shutdown_timeout"] = "\(configuration.shutdownTimeout.seconds)s"
        logger.info("shutting down", metadata: metadata)
        listeners.closeServing()
        for worker in workers.values { stop(worker, reason: "shutdown", now: now) }
        previousImage.stop(now)
    }

    private func logStats() {
        for worker in workers.values.sorted(by: { ($0.slot, $0.spawnedAt) < ($1.slot, $1.spawnedAt) }) {
            let snapshot = WorkerSnapshot(slot: worker.slot, state: worker.stateName, cell: stats.cell(worker.cell))
            var metadata: Logger.Metadata = ["worker": "\(worker.slot)", "state": "\(snapshot.state)"]
            for (name, value) in snapshot.values where name != "index" {
                metadata[name] = .stringConvertible(value)
            }
            logger.info("worker stats", metadata: metadata)
        }
        if workers.isEmpty { logger.info("worker stats: no worker running") }
    }

    /// USR2. A restart that cannot begin is refused here, with one log line, before the
    /// phase moves on and before any worker is replaced.
    private func beginPhasedRestart() {
        guard !lifeCycle.isShuttingDown else { return }
        if let phasedRestart {
            logger.info("phased restart already in progress", metadata: ["phase": "\(phasedRestart.phase)"])
            return
        }
        // Renewed certificates are loaded now, before any worker is replaced; ones that do
        // not load leave every worker serving as it was.
        guard let reloaded = reloadedTLS("phased restart refused") else { return }
        tls = reloaded
        phase += 1
        phasedRestart = PhasedRestart(phase: phase)
        notify.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotify.monotonicMicroseconds)")
        logger.info("phased restart started", metadata: ["phase": "\(phase)", "workers": "\(slots.count)"])
        advancePhasedRestart()
    }

    /// HUP. Once exec succeeded there is no way back, so the new build is checked first
    /// (`HotRestartCheck`); the hand-over follows when the check passed (`hotRestartChecked`).
    private func hotRestart() {
        guard canHotRestart() else { return }
        if hotRestartCheck != nil {
            logger.info("hot restart already being checked")
            return
        }
        do {
            hotRestartCheck = try HotRestartCheck.start(
                executable: executablePath, arguments: CommandLine.arguments, now: Monotonic.now())
            logger.info("hot restart: checking the new build", metadata: ["path": "\(executablePath)"])
        } catch {
            logger.error("hot restart refused: the new build cannot be run", metadata: ["error": "\(error)"])
        }
    }

    private func canHotRestart() -> Bool {
        guard !lifeCycle.isShuttingDown else { return false }
        if phasedRestart != nil {
            logger.warning("hot restart refused: a phased restart is in progress")
            return false
        }
        return true
    }

    /// The check of the new build exited with wait status `status`.
    private func hotRestartChecked(_ check: HotRestartCheck, status: Int32) {
        hotRestartCheck = nil
        if let failure = check.failure(status: status) {
            logger.error(
                "hot restart refused: the new build failed its check; this image goes on",
                metadata: ["path": "\(check.executable)", "check": "\(failure)"])
            return
        }
        guard canHotRestart() else { return }
        // The new image loads the certificates again: broken ones must leave this image
        // serving rather than make the new one fail to start.
        guard reloadedTLS("hot restart refused") != nil else { return }
        HotRestart.handOver(
            executable: executablePath, sockets: listeners.all, workers: Array(workers.keys),
            previousWorkers: Array(previousImage.pids),
            helpers: Array(previousImage.helpers) + (metricsServer?.pid.map { [$0] } ?? []), phase: phase + 1,
            logger: logger, notify: notify)
    }

    private func addWorker() {
        guard !lifeCycle.isShuttingDown else { return }
        guard slots.count < maximumWorkers else {
            logger.warning("TTIN ignored: at the most workers", metadata: ["workers": "\(slots.count)"])
            return
        }
        do {
            try listeners.ensureSlots(slots.count + 1)
        } catch {
            logger.error("TTIN: cannot bind the new worker's socket", metadata: ["error": "\(error)"])
            return
        }
        slots.append(Slot())
        steering?.join(slot: slots.count - 1)
        logger.info("worker added (TTIN)", metadata: ["workers": "\(slots.count)"])
        respawnDue(Monotonic.now())
    }

    /// TTOU: the last slot goes, with its worker and any replacement booting for it.
    private func removeWorker() {
        guard !lifeCycle.isShuttingDown else { return }
        guard slots.count > 1 else {
            logger.warning("TTOU ignored: one worker is the fewest", metadata: ["workers": "\(slots.count)"])
            return
        }
        let slot = slots.count - 1
        let now = Monotonic.now()
        slots.removeLast()
        let holders = workers.values.filter { $0.slot == slot && !$0.isStopping }
        let sockets = listeners.retireLastSlot()
        if let steering, steering.retire(slot: slot, sockets: sockets, holders: Set(holders.map(\.pid)), now: now) {
            // Steered away first; the worker stops once its queue is served.
            steer(now)
        } else {
            for worker in holders { stop(worker, reason: Self.removedReason, now: now) }
            ClusterListeners.closeAll(sockets)
        }
        logger.info("worker removed (TTOU)", metadata: ["workers": "\(slots.count)"])
    }

    /// The certificates loaded afresh from their files, or nil after logging one error line.
    private func reloadedTLS(_ refusal: String) -> TLSContexts? {
        do {
            return try TLSContexts(configuration: configuration, ticketKeys: ticketKeys)
        } catch {
            logger.error(
                "\(refusal): the TLS certificates do not load; the workers go on serving",
                metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: Supervision

    private func spawn(slot: Int, role: WorkerProcess.Role, reason: String) -> WorkerProcess? {
        guard let cell = stats.allocate() else {
            logger.error("no free stats cell; worker not started", metadata: ["worker": "\(slot)"])
            return nil
        }
        stats[cell, RV_STAT_INDEX] = UInt64(slot)
        stats[cell, RV_STAT_PHASE] = UInt64(phase)
        stats[cell, RV_STAT_STARTED_AT] = UInt64(time(nil))
        let sockets = listeners.sockets(forSlot: slot)
        let mine = Set(sockets.map(\.fd))
        let others = listeners.all.map(\.fd).filter { !mine.contains($0) }
        let pid: pid_t
        do {
            pid = try WorkerProcess.fork(
                server: server, slot: slot, listeners: tls.served(sockets), ticketKeys: ticketKeys,
                closeInChild: others, stats: stats.cell(cell))
        } catch {
            stats.release(cell)
            logger.error("cannot start a worker", metadata: ["worker": "\(slot)", "error": "\(error)"])
            return nil
        }
        stats[cell, RV_STAT_PID] = UInt64(pid)
        var random = SystemRandomNumberGenerator()
        let worker = WorkerProcess(
            pid: pid, slot: slot, cell: cell, phase: phase, spawnedAt: Monotonic.now(), role: role,
            requestLimit: recycling.requestLimit(using: &random))
        workers[pid] = worker
        nextStatsWrite = 0
        logger.info(
            "worker started",
            metadata: ["worker": "\(slot)", "pid": "\(pid)", "phase": "\(phase)", "reason": "\(reason)"])
        return worker
    }

    private func respawnDue(_ now: Double) {
        for index in slots.indices where slots[index].current == nil {
            guard let due = slots[index].respawnAt, due <= now else { continue }
            let reason = due > 0 ? "respawn" : "boot"
            if let worker = spawn(slot: index, role: .current, reason: reason) {
                slots[index].current = worker.pid
                slots[index].respawnAt = nil
            } else {
                slots[index].respawnAt = now + Interval.forkRetry
            }
        }
    }

    private func stop(_ worker: WorkerProcess, reason: String, now: Double) {
        guard !worker.isStopping else { return }
        worker.role = .stopping(since: now, reason: reason)
        kill(worker.pid, SIGTERM)
    }

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            exited(pid, status: status)
        }
    }

    /// A reaped process's log metadata: its pid, and its exit status or the signal that
    /// ended it (wait status `status`).
    static func exitMetadata(pid: pid_t, status: Int32) -> Logger.Metadata {
        let signal = status & 0x7f
        if signal != 0 { return ["pid": "\(pid)", "signal": "\(SignalQueue.name(signal))"] }
        return ["pid": "\(pid)", "status": .stringConvertible(Int((status >> 8) & 0xff))]
    }

    private func exited(_ pid: pid_t, status: Int32) {
        let now = Monotonic.now()
        var metadata = Self.exitMetadata(pid: pid, status: status)
        if let check = hotRestartCheck, check.pid == pid {
            hotRestartChecked(check, status: status)
            return
        }
        nextStatsWrite = 0  // the stats file shows the change at once
        if metricsServer?.reaped(pid, status: status, now: now) == true { return }
        guard let worker = workers.removeValue(forKey: pid) else {
            if let what = previousImage.reaped(pid) {
                logger.info("\(what) exited (hot restart)", metadata: metadata)
                if previousImage.isEmpty { steering?.previousImageExited() }
            }
            return  // not ours (a process the previous image started, say): ignored
        }
        stats.release(worker.cell)
        steering?.workerExited(pid)
        let lifetime = now - worker.spawnedAt
        metadata["worker"] = "\(worker.slot)"
        metadata["phase"] = "\(worker.phase)"
        metadata["lifetime"] = "\(Self.seconds(lifetime))s"
        if case .stopping(_, let reason) = worker.role {
            metadata["reason"] = "\(worker.killReason ?? reason)"
            logger.info("worker exited", metadata: metadata)
            return
        }
        if let reason = worker.killReason { metadata["reason"] = "\(reason)" }
        logger.warning("worker exited unexpectedly", metadata: metadata)
        if worker.role == .replacement, worker.slot < slots.count,
            let replacement = slots[worker.slot].replacement, replacement.pid == pid
        {
            slots[worker.slot].replacement = nil
            replacementFailed(slot: worker.slot, replacement)
            return
        }
        guard !lifeCycle.isStopping, worker.slot < slots.count, slots[worker.slot].current == pid else { return }
        stats.countRestart(worker.killCause ?? .crash)
        slots[worker.slot].current = nil
        let delay = slots[worker.slot].backoff.delay(afterLifetime: lifetime)
        slots[worker.slot].respawnAt = now + delay
        if delay > 0 {
            logger.warning(
                "worker crash loop: respawn delayed",
                metadata: [
                    "worker": "\(worker.slot)", "delay": "\(Self.seconds(delay))s",
                    "quick_deaths": .stringConvertible(slots[worker.slot].backoff.quickDeaths),
                    "reason":
                        "died \(slots[worker.slot].backoff.quickDeaths) times in a row within \(Self.seconds(slots[worker.slot].backoff.window))s of starting",
                ])
        }
    }

    private func observeBoots(_ now: Double) {
        for worker in workers.values where worker.bootedAt == nil && !worker.isStopping {
            guard stats[worker.cell, RV_STAT_BOOTED] != 0 else { continue }
            worker.bootedAt = now
            nextStatsWrite = 0
            if recycling.maxRSS != nil { worker.rssAtBoot = ProcessMemory.residentBytes(worker.pid) }
            worker.heartbeat = stats[worker.cell, RV_STAT_LAST_CHECKIN]
            worker.heartbeatSeenAt = now
            logger.info(
                "worker booted",
                metadata: [
                    "worker": "\(worker.slot)", "pid": "\(worker.pid)", "phase": "\(worker.phase)",
                    "boot_time": "\(Self.seconds(now - worker.spawnedAt))s",
                ])
        }
        if lifeCycle == .starting && allBooted {
            lifeCycle = .serving
            logger.info("all workers booted", metadata: ["workers": "\(slots.count)", "phase": "\(phase)"])
            notify.send("READY=1\nSTATUS=\(slots.count) workers serving\nMAINPID=\(getpid())")
        }
    }

    /// After a hot restart, once this image's workers have all booted, the previous
    /// image's are stopped: each is a worker replaced by a hot restart.
    private func stopPreviousImageWhenOursBooted(_ now: Double) {
        let stopped = previousImage.stopWhenOursBooted(now, oursBooted: allBooted)
        if stopped > 0 { stats.countRestart(.hotRestart, by: stopped) }
    }

    private var allBooted: Bool {
        slots.allSatisfy { slot in slot.current.flatMap { workers[$0]?.bootedAt } != nil }
    }

    /// SIGKILL for a worker that did not boot in time, stopped sending heartbeats, or is
    /// still running past the shutdown timeout after TERM.
    private func enforceDeadlines(_ now: Double) {
        let shutdownLimit = configuration.shutdownTimeout.seconds + Interval.killAfterShutdownTimeout
        for worker in workers.values where worker.killReason == nil {
            var reason: String?
            var cause: RestartReason?
            switch worker.role {
            case .stopping(let since, _):
                if now - since > shutdownLimit {
                    reason = "still running \(Self.seconds(now - since))s after TERM (--shutdown-timeout)"
                }
            case .current, .replacement:
                if worker.bootedAt == nil {
                    if now - worker.spawnedAt > configuration.workerBootTimeout.seconds {
                        cause = .bootTimeout
                        reason =
                            "did not boot within \(Self.seconds(configuration.workerBootTimeout.seconds))s"
                            + " (--worker-boot-timeout)"
                    }
                } else {
                    // The heartbeat is wall-clock seconds written by the worker; its age is
                    // measured here on the monotonic clock, so a clock step kills no one.
                    let beat = stats[worker.cell, RV_STAT_LAST_CHECKIN]
                    if beat != worker.heartbeat {
                        worker.heartbeat = beat
                        worker.heartbeatSeenAt = now
                    } else if now - worker.heartbeatSeenAt > configuration.workerTimeout.seconds {
                        cause = .heartbeatTimeout
                        reason = "no heartbeat for \(Self.seconds(now - worker.heartbeatSeenAt))s (--worker-timeout)"
                    }
                }
            }
            guard let reason else { continue }
            worker.killReason = reason
            worker.killCause = cause
            kill(worker.pid, SIGKILL)
            logger.warning(
                "worker killed",
                metadata: ["worker": "\(worker.slot)", "pid": "\(worker.pid)", "reason": "\(reason)"])
        }
        previousImage.enforceDeadline(now, limit: shutdownLimit)
        metricsServer?.enforceStopDeadline(now, limit: shutdownLimit)
        if hotRestartCheck?.enforceTimeout(now) == true {
            logger.warning("hot restart: the new build's check takes too long; killed")
        }
    }

    /// Points new connections at the slots whose worker accepts now (see `acceptingSlots`).
    private func steer(_ now: Double) {
        guard let steering, steering.isActive else { return }
        steering.steer(toward: acceptingSlots(now), slotCount: slots.count)
    }

    /// The slots whose worker accepts now: serving (`servingWorkers`), and not paused by
    /// its own backpressure. A slot without such a worker should get no new connection:
    /// they would wait in its queue.
    private func acceptingSlots(_ now: Double) -> Set<Int> {
        let pauseAt = UInt64(configuration.acceptPauseBacklog)
        return Set(
            servingWorkers(now, heartbeatAge: Interval.steeringHeartbeatAge)
                .filter { configuration.threads == 0 || stats[$0.cell, RV_STAT_BACKLOG] < pauseAt }.map(\.slot))
    }

    /// The slots' current workers that serve now: booted, not stopping, their heartbeat
    /// changed within `heartbeatAge` seconds.
    private func servingWorkers(_ now: Double, heartbeatAge: Double) -> [WorkerProcess] {
        slots.compactMap { slot in
            guard let pid = slot.current, let worker = workers[pid], worker.bootedAt != nil, !worker.isStopping,
                worker.killReason == nil, now - worker.heartbeatSeenAt <= heartbeatAge
            else { return nil }
            return worker
        }
    }

    /// Ready for traffic: every slot's worker booted once and no stop began, and a worker
    /// serves (during a hot restart the previous image's workers serve until ours booted).
    private func isReady(servingWorkers: Int) -> Bool {
        switch lifeCycle {
        case .serving: servingWorkers > 0
        case .starting: !previousImage.isEmpty && !previousImage.isStopped
        case .draining, .stopping: false
        }
    }

    /// What the metrics server reads about the master, on every turn of the loop: it answers
    /// /healthz and /readyz from these words.
    private func publish(_ now: Double) {
        var serving = servingWorkers(now, heartbeatAge: Interval.servingHeartbeatAge).count
        if !previousImage.isStopped { serving += previousImage.count }
        stats[.lifeCycle] = lifeCycle.code
        stats[.ready] = isReady(servingWorkers: serving) ? 1 : 0
        stats[.servingWorkers] = UInt64(serving)
        stats[.workersConfigured] = UInt64(slots.count)
        stats[.phase] = UInt64(phase)
        stats[.heartbeat] = UInt64(Monotonic.milliseconds(now))
    }

    // MARK: Replacing a worker without a gap

    /// Forks a worker that takes `slot` over from its current worker once it has booted
    /// (`promoteBootedReplacements`); the current one serves meanwhile, then stops
    /// gracefully. If the new one dies before it boots, the slot keeps its worker
    /// (`replacementFailed`). A phased restart replaces each slot this way; so should
    /// anything else that renews a worker (a memory or request limit, say). False when
    /// the fork failed: the caller tries again later.
    private func replace(slot: Int, cause: RestartReason, reason: String) -> Bool {
        guard let worker = spawn(slot: slot, role: .replacement, reason: reason) else { return false }
        slots[slot].replacement = Replacement(pid: worker.pid, cause: cause, reason: reason)
        return true
    }

    /// A booted replacement becomes its slot's worker; the worker it replaces is stopped.
    private func promoteBootedReplacements(_ now: Double) {
        for slot in slots.indices {
            guard let replacement = slots[slot].replacement, let worker = workers[replacement.pid],
                worker.bootedAt != nil
            else { continue }
            var oldPid: pid_t?
            if let current = slots[slot].current, let old = workers[current] {
                oldPid = old.pid
                stop(old, reason: replacement.reason, now: now)
                stats.countRestart(replacement.cause)
            }
            slots[slot].current = replacement.pid
            slots[slot].replacement = nil
            if replacement.cause != .phasedRestart { slots[slot].recycleFailures = 0 }
            worker.role = .current
            logger.info(
                "\(replacement.reason): worker replaced",
                metadata: [
                    "worker": "\(slot)", "old_pid": "\(oldPid.map { String($0) } ?? "-")", "pid": "\(worker.pid)",
                    "phase": "\(worker.phase)",
                ])
        }
    }

    /// The replacement of `slot` exited before it booted; the slot's worker goes on. A
    /// phased restart stops there (the new build cannot boot); a recycle is tried again
    /// later, each time after a longer wait.
    private func replacementFailed(slot: Int, _ replacement: Replacement) {
        guard replacement.cause == .phasedRestart else {
            slots[slot].recycleFailures += 1
            let delay = WorkerRecycling.retryDelay(afterFailures: slots[slot].recycleFailures)
            slots[slot].recycleAfter = Monotonic.now() + delay
            logger.error(
                "worker recycle failed: the new worker exited before it booted; the old one goes on",
                metadata: [
                    "worker": "\(slot)", "reason": "\(replacement.cause.rawValue)",
                    "next_try_in": "\(Self.seconds(delay))s",
                ])
            return
        }
        guard let restart = phasedRestart else { return }
        logger.error(
            "phased restart aborted: the new worker exited before it booted",
            metadata: ["worker": "\(slot)", "phase": "\(restart.phase)"])
        phasedRestart = nil
        notify.send("READY=1")
    }

    /// --worker-max-rss, --worker-max-requests (once a second, after the memory sample):
    /// the first worker past a limit is replaced, one at a time and never during a phased
    /// restart, so the cluster never serves with fewer workers.
    private func recycleOverLimits(_ now: Double) {
        guard recycling.isEnabled, phasedRestart == nil, !slots.contains(where: { $0.replacement != nil }) else {
            return
        }
        for index in slots.indices where now >= slots[index].recycleAfter {
            guard let pid = slots[index].current, let worker = workers[pid], worker.bootedAt != nil,
                !worker.isStopping, worker.killReason == nil
            else { continue }
            let verdict = recycling.verdict(
                requests: stats[worker.cell, RV_STAT_REQUESTS], requestLimit: worker.requestLimit,
                rss: stats[worker.cell, RV_STAT_RSS_BYTES], rssAtBoot: worker.rssAtBoot)
            switch verdict {
            case .keep:
                continue
            case .tooBigAtBoot(let why):
                guard !worker.reportedTooBig else { continue }
                worker.reportedTooBig = true
                logger.warning(
                    "worker not recycled: a new one would be as big",
                    metadata: ["worker": "\(index)", "pid": "\(pid)", "why": "\(why)"])
            case .recycle(let cause, let why):
                logger.info(
                    "recycling worker",
                    metadata: ["worker": "\(index)", "pid": "\(pid)", "reason": "\(cause.rawValue)", "why": "\(why)"])
                if replace(slot: index, cause: cause, reason: "recycle (\(cause.rawValue))") { return }
            }
        }
    }

    private func advancePhasedRestart() {
        guard var restart = phasedRestart, !lifeCycle.isStopping else { return }
        let step = restart.nextStep(
            slots.map { slot in
                PhasedRestart.SlotState(
                    replacing: slot.replacement != nil, currentPhase: slot.current.flatMap { workers[$0]?.phase })
            })
        phasedRestart = restart
        switch step {
        case .replace(let slot):
            // A failed fork: tried again on the next turn.
            _ = replace(slot: slot, cause: .phasedRestart, reason: "phased restart")
        case .wait:
            break
        case .finished:
            phasedRestart = nil
            notify.send("READY=1\nSTATUS=\(slots.count) workers serving, phase \(restart.phase)")
            logger.info(
                "phased restart finished", metadata: ["phase": "\(restart.phase)", "workers": "\(slots.count)"])
        }
    }

    // MARK: Once a second

    private func periodic(_ now: Double) {
        if now >= nextMemorySample {
            nextMemorySample = now + Interval.memorySample
            for worker in workers.values {
                stats[worker.cell, RV_STAT_RSS_BYTES] = ProcessMemory.residentBytes(worker.pid) ?? 0
            }
            if !lifeCycle.isShuttingDown { recycleOverLimits(now) }
        }
        if now >= nextStatsWrite {
            nextStatsWrite = now + Interval.statsFile
            statsFile?.write(snapshot())
        }
        if let interval = notify.watchdogInterval, now >= nextWatchdog {
            nextWatchdog = now + interval
            notify.send("WATCHDOG=1")
        }
    }

    func snapshot() -> ClusterSnapshot {
        let ordered = workers.values.sorted { ($0.slot, $0.spawnedAt) < ($1.slot, $1.spawnedAt) }
        return ClusterSnapshot(
            masterPid: getpid(), startedAt: startedAt, state: lifeCycle.name, ready: stats[.ready] != 0, phase: phase,
            workersConfigured: slots.count, listenerMode: listeners.usesReusePort ? "reuseport" : "shared",
            phasedRestart: phasedRestart != nil,
            restarts: RestartReason.allCases.map { ($0.rawValue, stats.restarts($0)) },
            workers: ordered.map { WorkerSnapshot(slot: $0.slot, state: $0.stateName, cell: stats.cell($0.cell)) })
    }

    /// `1.5`, `0.25`, `30`: seconds with at most three decimals, for log values.
    static func seconds(_ value: Double) -> String {
        let milliseconds = Int((value * 1000).rounded())
        let whole = milliseconds / 1000
        var fraction = String(milliseconds % 1000)
        if fraction == "0" { return String(whole) }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}

/// Seconds on the monotonic clock (CLOCK_MONOTONIC), for every deadline of the master.
enum Monotonic {
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// `seconds` as whole milliseconds, for a word of the shared memory that another
    /// process compares with its own reading of the same clock.
    static func milliseconds(_ seconds: Double) -> Int { Int((seconds * 1000).rounded(.down)) }
}
