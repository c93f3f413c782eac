#if canImport(Glibc)
    import Glibc
#endif

/// The served directory, and the one way files are opened under it.
///
/// Why the check is on the descriptor: whatever the path walk met (a symlink, inside or
/// out; a directory renamed or replaced by a symlink while we looked), the question that
/// matters is where the file that was opened lives, and the kernel answers it for the
/// descriptor itself through `/proc/self/fd/N` (the same canonical form as realpath).
/// The engine then sends exactly that descriptor, so there is no window between check and
/// use (TOCTOU): a realpath of the name followed by an open of the name would have one.
/// It is also cheaper than realpath, which costs a syscall or two per path component:
/// here a file costs openat + fstat + readlink.
///
/// The root is held open and paths are opened relative to it (openat), so the kernel
/// does not walk the root's own components on every request.
final class ServedRoot: Sendable {
    /// Descriptor of the root directory, for openat.
    let descriptor: Int32
    /// The root's canonical path (realpath), as bytes: file names need not be UTF-8.
    let path: [UInt8]

    /// What opening a path under the root gave.
    enum Opened {
        /// An open descriptor (the caller owns it) whose file is the root or under it.
        case entry(descriptor: Int32, status: stat)
        /// Nothing under the root by that name (or it resolved outside: the same answer).
        case missing
        /// The process or the system ran out of descriptors or memory: try again later.
        case exhausted
    }

    init(path root: String) throws {
        func fail(_ message: String) -> RaptorError {
            .invalidConfiguration(option: "DIR", message: message)
        }
        func failure(for code: Int32) -> RaptorError {
            switch code {
            case ENOENT: return fail("'\(root)' does not exist")
            case ENOTDIR: return fail("'\(root)' is not a directory")
            case EACCES, EPERM: return fail("'\(root)' is not readable (permission denied)")
            default: return fail("'\(root)' cannot be opened: \(String(cString: strerror(code)))")
            }
        }
        guard let resolved = realpath(root, nil) else { throw failure(for: errno) }
        defer { free(resolved) }
        let descriptor = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(for: errno) }
        // Files are opened through the directory, which takes search (x) permission.
        guard access(resolved, X_OK) == 0 else {
            let code = errno
            close(descriptor)
            throw failure(for: code)
        }
        self.descriptor = descriptor
        self.path = Array(UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)))
        // Every request relies on /proc/self/fd: find out now rather than 404 on everything.
        guard isOwn(descriptor) else {
            throw fail(
                "/proc/self/fd is not readable (is /proc mounted?): it is needed to check that"
                    + " served files are under '\(root)'")
        }
    }

    deinit {
        close(descriptor)
    }

    /// Opens `relative` (no leading `/`; "." for the root) without blocking and checks that
    /// what was opened is the root or under it. Symlinks are followed, wherever they lead;
    /// the check then refuses what lies outside.
    func openEntry(_ relative: String) -> Opened {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, holding
        // an app thread forever; it changes nothing for regular files, the only ones
        // served. O_NOCTTY: a terminal device must not become our controlling terminal.
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
        let opened = relative.withCString { openat(descriptor, $0, flags) }
        guard opened >= 0 else {
            switch errno {
            case EMFILE, ENFILE, ENOMEM: return .exhausted
            // ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES (404 rather than 403: it would
            // tell that the name exists), ENXIO (a socket), and the rest.
            default: return .missing
            }
        }
        var status = stat()
        guard fstat(opened, &status) == 0, isOwn(opened) else {
            close(opened)
            return .missing
        }
        return .entry(descriptor: opened, status: status)
    }

    /// True when the file open at `fileDescriptor` is the root or under it.
    func isOwn(_ fileDescriptor: Int32) -> Bool {
        DescriptorPath.withPath(of: fileDescriptor) { found in
            // Unknown (or longer than PATH_MAX): not proven to be ours.
            guard let found else { return false }
            // Serving "/" itself (the only canonical path of one byte): everything is under
            // it, and the separator test below would look for "//".
            if path.count == 1 { return found.first == UInt8(ascii: "/") }
            guard found.starts(with: path) else { return false }
            // "/srv/www" must not admit "/srv/www-private/x": the next byte is a separator.
            return found.count == path.count || found[path.count] == UInt8(ascii: "/")
        }
    }
}
