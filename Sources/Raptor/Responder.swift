/// How a worker answers its requests: what a per-worker factory returns (see
/// `RaptorCommandLine.main(hooks:perWorker:)`), or what `RaptorCommandLine.main(responder:)`
/// and `Server(configuration:responder:)` take.
public struct Responder: Sendable {
    enum Kind: Sendable {
        case sync(Handler)
        case async(AsyncHandler)
    }

    let kind: Kind

    /// A synchronous handler: it runs on an app thread (`--threads`, default 5) and may
    /// block, or on the event loop itself with `--threads 0` (then it must never block).
    public static func sync(_ handler: @escaping Handler) -> Responder {
        Responder(kind: .sync(handler))
    }

    /// An async handler: each request runs as a Task in the worker (Swift's cooperative
    /// pool; `--threads` is not used), so a handler awaiting a database or another service
    /// holds no thread. At most `--max-inflight` run at once per worker; at that limit the
    /// worker stops accepting, further requests on open connections wait, and past
    /// `--max-pending` waiting they get 503. It must not block its thread (a blocking call
    /// starves every other request of the worker): await instead.
    public static func async(_ handler: @escaping AsyncHandler) -> Responder {
        Responder(kind: .async(handler))
    }
}
