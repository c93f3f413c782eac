/// How a worker answers its requests: what a per-worker factory returns (see
/// `RaptorCommandLine.main(hooks:perWorker:)`).
public struct Responder: Sendable {
    let handler: Handler

    /// A synchronous handler: it runs on an app thread (`--threads`, default 5) and may
    /// block, or on the event loop itself with `--threads 0` (then it must never block).
    public static func sync(_ handler: @escaping Handler) -> Responder {
        Responder(handler: handler)
    }
}
