/// An application: called once per request on an app thread (or on the event loop with
/// `threads = 0`). It may block; it cannot keep the `Request` beyond its return (the
/// compiler refuses it: `Request` is `~Escapable`). A thrown `HTTPResponseError` sends its
/// own response; any other error becomes a 500 response and reaches `Hooks.onError`.
public typealias Handler = @Sendable (Request) throws -> Response

/// An async application (`Responder.async`): each request runs as a Task in the worker, and
/// awaiting holds no thread. Like `Handler`, it cannot keep the `Request` past its return;
/// read what a `.asyncStream` body or a child task needs first.
public typealias AsyncHandler = @Sendable (Request) async throws -> Response

/// Code the server runs at points of a worker's life.
public struct Hooks: Sendable {
    /// In the master process, once, after the listeners are bound and before the first
    /// worker is forked (cluster mode only): close what workers must not inherit.
    public var beforeFork: @Sendable () -> Void
    /// In the worker process, before it starts serving (and before a per-worker factory);
    /// the argument is the worker index.
    public var workerBoot: @Sendable (Int) -> Void
    /// In the worker process, after it stopped serving (graceful stop) and its services
    /// shut down.
    public var workerShutdown: @Sendable (Int) -> Void
    /// After a handler failed: it threw (an `HTTPResponseError` only with a 5xx status), or
    /// its response could not be sent (a 1xx status, a `FileRegion` sent before). The
    /// response (a 500, or the error's own) is already on its way. Not called for a client
    /// that went away during a streamed response.
    public var onError: @Sendable (ErrorContext) -> Void

    public init(
        beforeFork: @escaping @Sendable () -> Void = {},
        workerBoot: @escaping @Sendable (Int) -> Void = { _ in },
        workerShutdown: @escaping @Sendable (Int) -> Void = { _ in },
        onError: @escaping @Sendable (ErrorContext) -> Void = { _ in }
    ) {
        self.beforeFork = beforeFork
        self.workerBoot = workerBoot
        self.workerShutdown = workerShutdown
        self.onError = onError
    }
}

/// What `Hooks.onError` learns about a failed request (copied: the request is gone).
public struct ErrorContext: Sendable {
    public var method: String
    public var target: String
    public var error: any Error
}
