#if canImport(Glibc)
    import Glibc
#endif

/// Errors the library reports to the code that embeds it.
public enum RaptorError: Error, CustomStringConvertible, Equatable {
    /// A configuration value is invalid; `option` names the flag (or property).
    case invalidConfiguration(option: String, message: String)
    /// A listener could not be bound.
    case bind(address: String, message: String)
    /// A system call failed.
    case system(String, Int32)
    /// The client went away while the response was being written.
    case clientGone
    /// A handler returned an interim (1xx) status, which cannot end an exchange; the
    /// client got a 500.
    case interimStatus(Int)
    /// A handler returned a `FileRegion` (or `FileParts`) that an earlier response already
    /// sent (its descriptor went with that response); the client got a 500.
    case fileRegionAlreadySent
    /// The server cannot run, for the reason given (another one owns the pidfile, say).
    case cannotRun(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let option, let message): return "\(option): \(message)"
        case .bind(let address, let message): return "cannot bind \(address): \(message)"
        case .system(let what, let code): return "\(what): \(String(cString: strerror(code)))"
        case .clientGone: return "the client closed the connection"
        case .interimStatus(let code):
            return "the handler returned status \(code): 1xx statuses are interim (RFC 9110 section 15.2) and"
                + " cannot end a response; return a final status (200-599)"
        case .fileRegionAlreadySent:
            return "the handler returned a file body (FileRegion, FileParts) that an earlier response already sent"
                + " (its descriptor went with it): open the file, or dup the descriptor, for each response"
        case .cannotRun(let reason): return reason
        }
    }
}
