#if canImport(Glibc)
    import Glibc
#endif

/// `--pidfile`: the master's pid, in a file created exclusively (O_CREAT | O_EXCL), so two
/// masters never both believe they own it.
///
/// - A file naming a live process (other than this one) is an error: another server runs.
/// - A file naming no live process (or unreadable garbage) is stale: it is replaced.
/// - A file naming this very process is kept: that is a hot restart (the pid survives
///   exec), and the file stays valid throughout.
struct Pidfile {
    let path: String

    /// Claims the file for `pid` or throws a one-line error.
    static func claim(path: String, pid: pid_t = getpid()) throws -> Pidfile {
        for _ in 0..<3 {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                let text = "\(pid)\n"
                let written = text.withCString { write(fd, $0, strlen($0)) }
                let code = errno
                close(fd)
                guard written == text.utf8.count else {
                    unlink(path)
                    throw RaptorError.system("writing the pidfile \(path)", code)
                }
                return Pidfile(path: path)
            }
            guard errno == EEXIST else { throw RaptorError.system("creating the pidfile \(path)", errno) }
            let owner = readPid(path)
            if let owner, owner == pid { return Pidfile(path: path) }
            if let owner, isAlive(owner) {
                throw RaptorError.cannotRun("pidfile \(path) names process \(owner), which is running")
            }
            // Stale (its process is gone) or not a pid at all: replace it, then try again
            // (another master may win the race; the next O_EXCL tells).
            unlink(path)
        }
        throw RaptorError.cannotRun("pidfile \(path) keeps reappearing")
    }

    /// Removes the file if it still names this process.
    func remove(pid: pid_t = getpid()) {
        if Pidfile.readPid(path) == pid { unlink(path) }
    }

    static func readPid(_ path: String) -> pid_t? {
        guard let text = ProcessorCount.readFile(path) else { return nil }
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\r" }).first
        guard let trimmed, let pid = pid_t(trimmed), pid > 0 else { return nil }
        return pid
    }

    /// Whether a process with this pid exists (EPERM: it exists, owned by someone else).
    static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
