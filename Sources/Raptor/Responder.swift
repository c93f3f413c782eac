/// How a worker answers its requests: what a per-worker factory returns (see
/// `RaptorCommandLine.main(hooks:perWorker:)`), or what `RaptorCommandLine.main(responder:)`
/// and `Server(configuration:responder:)` take.
public struct Responder: Sendable {
    enum Kind: Sendable {
        case sync(Handler)
        case async(AsyncHandler)
    }

    /// When an async handler gets a request that has a body.
    public enum BodyDelivery: Sendable {
        /// Once the whole body has arrived (in memory, or spooled to a temporary file past
        /// `--body-memory-limit`): every `RequestBody` call reads it. The default.
        case whole
        /// At the end of the request's head: the handler reads the body as it arrives,
        /// `request.body.chunks()`, or waits for all of it, `request.body.receive()`. See
        /// `RequestBody`.
        case streamed
    }

    let kind: Kind
    /// `.streamed` only with an async handler.
    var bodies: BodyDelivery = .whole

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
    ///
    /// `bodies: .streamed` starts the handler as soon as a request's head has arrived, and
    /// the body reaches it as the client sends it (`RequestBody.chunks()`), never held
    /// whole: a large upload costs the worker a bounded buffer, and a handler can refuse
    /// one before the client sent it (`Expect: 100-continue` is answered only when the
    /// handler first waits for the body).
    ///
    /// ```swift
    /// .async(bodies: .streamed) { request in
    ///     var digest = Digest()
    ///     for try await chunk in try request.body.chunks() { digest.update(chunk) }
    ///     return Response(body: .string(digest.hex))
    /// }
    /// ```
    public static func async(bodies: BodyDelivery = .whole, _ handler: @escaping AsyncHandler) -> Responder {
        Responder(kind: .async(handler), bodies: bodies)
    }
}
