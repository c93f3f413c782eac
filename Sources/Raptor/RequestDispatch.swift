internal import CRaptor
import HTTPTypes
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What the engine's per-request entry point needs; travels to C as an unmanaged
/// pointer in `rv_worker_config.handler_context`.
final class Application: Sendable {
    /// One of the two is set, as the responder says.
    let handler: Handler?
    let asyncHandler: AsyncHandler?
    let hooks: Hooks
    let logger: Logger
    let accessLogFormat: Configuration.LogFormat?
    /// The client's address behind trusted proxies; nil when none is trusted.
    let forwarding: ForwardedClient?
    /// Where an async handler's Tasks run; nil: Swift's cooperative pool.
    let taskExecutor: (any TaskExecutor)?
    /// An async handler starts at the end of the head and reads the body as it arrives.
    let streamsBodies: Bool

    init(
        responder: Responder, hooks: Hooks, logger: Logger, accessLogFormat: Configuration.LogFormat?,
        forwarding: ForwardedClient? = nil, taskExecutor: (any TaskExecutor)? = nil
    ) {
        switch responder.kind {
        case .sync(let handler):
            self.handler = handler
            self.asyncHandler = nil
            self.streamsBodies = false
        case .async(let handler):
            self.handler = nil
            self.streamsBodies = responder.bodies == .streamed
            self.asyncHandler = streamsBodies ? Self.stoppingBodyReads(handler) : handler
        }
        self.hooks = hooks
        self.logger = logger
        self.accessLogFormat = accessLogFormat
        self.forwarding = forwarding
        self.taskExecutor = taskExecutor
    }

    /// One request: HTTP/1.1 (`HTTP1Calls`) or an HTTP/2 stream (`HTTP2Calls`), specialized
    /// for each.
    func handle<Calls: ResponseCalls>(_ connection: OpaquePointer, _ calls: Calls.Type) {
        let request = Request(connection: connection)
        let started = accessLogFormat == nil ? timespec() : Self.now(CLOCK_REALTIME)
        var status = 500
        do {
            let response = try handler!(request)
            status = response.status.code
            try calls.send(response, on: connection)
        } catch {
            status = recover(
                from: error, status: status, method: request.method, target: request.target, on: connection, calls)
        }
        logAccess(request, status: status, started: started)
    }

    /// The same for an async handler, in the request's Task (an HTTP/1.1 request, or an
    /// HTTP/2 stream answered into its sink); then the connection goes back to the loop.
    /// Inlined into the Task's closure, as the HTTP/1.1-only function was (callgrind: 20
    /// instructions per request more as a call of its own).
    @inline(__always)
    func handleAsync<Calls: ResponseCalls>(_ connection: OpaquePointer, _ calls: Calls.Type) async {
        let request = Request(connection: connection)
        let started = accessLogFormat == nil ? timespec() : Self.now(CLOCK_REALTIME)
        var status = 500
        do {
            let response = try await asyncHandler!(request)
            status = response.status.code
            try await ResponseSender.sendFromTask(response, on: connection, calls)
        } catch {
            status = recover(
                from: error, status: status, method: request.method, target: request.target, on: connection, calls)
        }
        logAccess(request, status: status, started: started)
        Calls.taskFinished(connection)
    }

    /// A handler of streamed bodies, then the loop's reading of the body stopped, before the
    /// Task's first write (the response, or the answer to what it threw): the transport has
    /// one owner at a time. Only streaming applications pay the wait.
    private static func stoppingBodyReads(_ handler: @escaping AsyncHandler) -> AsyncHandler {
        { request in
            let connection = ConnectionHandle(pointer: request.connection)
            do {
                let response = try await handler(request)
                await BodyStreamWait.stopReading(connection.pointer)
                return response
            } catch {
                await BodyStreamWait.stopReading(connection.pointer)
                throw error
            }
        }
    }

    private func logAccess(_ request: borrowing Request, status: Int, started: timespec) {
        guard let accessLogFormat else { return }
        let entry = AccessLogEntry(
            remoteAddress: request.remoteAddress, method: request.method.rawValue, target: request.target,
            version: request.version, status: status, bodyBytes: rv_response_body_bytes(request.connection),
            startTime: started, duration: Self.seconds(since: started))
        AccessLog.write(AccessLog.line(entry, format: accessLogFormat))
    }

    /// Answers for a handler that threw (or returned a response that cannot be sent):
    /// the error's own response for an `HTTPResponseError`, else a 500; once a response
    /// began (`status` is the one it began with), only ending the connection is left.
    /// Returns the status the client got.
    private func recover<Calls: ResponseCalls>(
        from error: any Error, status: Int, method: HTTPRequest.Method, target: String, on connection: OpaquePointer,
        _ calls: Calls.Type
    ) -> Int {
        if rv_response_started(connection) != 0 {
            // The head is out: a truncated body must not pass for a whole one.
            rv_respond_abort(connection)
            if Self.clientWentAway(error) {
                // The client's choice, not the application's failure.
                logger.info(
                    "client went away during the response", metadata: ["method": "\(method)", "target": "\(target)"])
            } else {
                reportFailure(error, method: method, target: target)
            }
            return status
        }
        if Self.clientWentAway(error) {
            // A streamed request body whose client went away, or a Task cancelled because its
            // client did: nobody is left to answer.
            rv_respond_abort(connection)
            logger.info(
                "client went away during the request", metadata: ["method": "\(method)", "target": "\(target)"])
            return status
        }
        if let answer = error as? any HTTPResponseError {
            let code = answer.status.code
            do {
                try calls.send(answer.response, on: connection)
            } catch {
                // Its response could not be sent (a 1xx, a body that threw midway).
                return recover(from: error, status: code, method: method, target: target, on: connection, calls)
            }
            if code >= 500 {
                reportFailure(error, method: method, target: target)
            } else {
                logger.debug(
                    "handler answered with an error",
                    metadata: ["method": "\(method)", "target": "\(target)", "status": "\(code)", "error": "\(error)"])
            }
            return code
        }
        reportFailure(error, method: method, target: target)
        ResponseSender.sendInternalError(on: connection, calls)
        return 500
    }

    private static func clientWentAway(_ error: any Error) -> Bool {
        if case RaptorError.clientGone = error { return true }
        return error is CancellationError && Task.isCancelled
    }

    private func reportFailure(_ error: any Error, method: HTTPRequest.Method, target: String) {
        logger.error(
            "handler failed", metadata: ["method": "\(method)", "target": "\(target)", "error": "\(error)"])
        hooks.onError(ErrorContext(method: method.rawValue, target: target, error: error))
    }

    private static func now(_ clock: clockid_t) -> timespec {
        var time = timespec()
        clock_gettime(clock, &time)
        return time
    }

    private static func seconds(since start: timespec) -> Double {
        let end = now(CLOCK_REALTIME)
        return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
    }
}

extension ResponseSender {
    /// What a client gets when the handler threw before answering.
    static func sendInternalError<Calls: ResponseCalls>(on connection: OpaquePointer, _ calls: Calls.Type) {
        let response = Response(
            status: .internalServerError,
            headers: [.contentType: "text/plain; charset=utf-8", .connection: "close"],
            body: "Internal Server Error\n")
        try? calls.send(response, on: connection)
    }
}

extension Application {
    /// A file body ended early (the file shrank while it was sent): the engine closes the
    /// connection; this says so once, with the file's path.
    func fileEndedEarly(descriptor: Int32, reached: UInt64, expected: UInt64) {
        logger.warning(
            "file truncated while being sent; connection closed",
            metadata: [
                "path": "\(DescriptorPath.path(of: descriptor) ?? "fd \(descriptor)")", "reached": "\(reached)",
                "expected": "\(expected)",
            ])
    }
}

/// The engine's report of a short file body (an `rv_file_short_fn`), on the thread that
/// was sending.
func raptorFileShort(_ descriptor: Int32, _ reached: UInt64, _ expected: UInt64, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<Application>.fromOpaque(context).takeUnretainedValue().fileEndedEarly(
        descriptor: descriptor, reached: reached, expected: expected)
}

/// The engine's debug log (an `rv_log_fn`, set only when the logger logs at debug level):
/// failed TLS handshakes, which must never flood the log at a higher level.
func raptorLogDebug(_ message: UnsafePointer<CChar>?, _ context: UnsafeMutableRawPointer?) {
    guard let message, let context else { return }
    Unmanaged<Application>.fromOpaque(context).takeUnretainedValue().logger.debug("\(String(cString: message))")
}

/// The engine's entry point for every request with an async handler (an
/// `rv_task_start_fn`), on the loop thread: it starts the request's Task and returns.
func raptorStartTask(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    startTask(connection, context, HTTP1Calls.self)
}

/// The same for every HTTP/2 stream of an async application
/// (`rv_worker_config.start_stream_task`): the stream's Task answers into its sink and hands
/// it back with `rv_h2_task_finished`.
func raptorStartStreamTask(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    startTask(connection, context, HTTP2Calls.self)
}

@inline(__always)
private func startTask<Calls: ResponseCalls>(
    _ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ calls: Calls.Type
) {
    guard let connection, let context else { return }
    let application = Unmanaged<Application>.fromOpaque(context).takeUnretainedValue()
    // Attached before the Task exists, so it is there however soon the Task finishes.
    let running = RunningRequest(application: application, connection: connection)
    rv_task_attach(connection, Unmanaged.passRetained(running).toOpaque())
    if let executor = application.taskExecutor {
        running.task = Task(executorPreference: executor) { await running.run(Calls.self) }
    } else {
        running.task = Task { await running.run(Calls.self) }
    }
}

/// A request's Task, held by the engine until it finished or its client went away (then it
/// is cancelled: an awaiting handler sees `CancellationError`).
final class RunningRequest: @unchecked Sendable {
    let application: Application
    /// A dispatched connection: exactly one thread at a time uses it (the engine's
    /// ownership rule), which the compiler cannot see.
    let connection: OpaquePointer
    /// Set and read on the loop thread only (raptorStartTask, raptorReleaseTask's cancel).
    var task: Task<Void, Never>?

    init(application: Application, connection: OpaquePointer) {
        self.application = application
        self.connection = connection
    }

    /// Inlined into the Task's closure, as is `handleAsync` (a call of its own cost HTTP/1.1
    /// about 20 instructions per request: callgrind).
    @inline(__always)
    func run<Calls: ResponseCalls>(_ calls: Calls.Type) async { await application.handleAsync(connection, calls) }
}

/// The engine letting a request's Task go (an `rv_task_release_fn`): cancelled first when
/// its client went away (loop thread), or simply released once it finished (its thread).
func raptorReleaseTask(_ context: UnsafeMutableRawPointer?, _ cancel: Int32) {
    guard let context else { return }
    let running = Unmanaged<RunningRequest>.fromOpaque(context).takeRetainedValue()
    if cancel != 0 { running.task?.cancel() }
}

/// A dispatched connection travelling into its Task: exactly one thread at a time uses it
/// (the engine's ownership rule), which the compiler cannot see.
struct ConnectionHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// The engine's entry point for every request (an `rv_handler_fn`). A plain global
/// function: C calls it from app threads, where a main-actor-isolated closure would trap.
func raptorHandleRequest(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let connection, let context else { return }
    Unmanaged<Application>.fromOpaque(context).takeUnretainedValue().handle(connection, HTTP1Calls.self)
}

/// The engine's entry point for every HTTP/2 stream (`rv_worker_config.stream_handler`): the
/// same handler, the same `Request`; the response goes into the stream's sink. Not optimized,
/// so `handle` is not specialized for HTTP/2: that copy was identical to HTTP/1.1's but for
/// its callees, and LLVM merged the two into one taking them as arguments, which cost
/// HTTP/1.1 19 instructions per request (callgrind).
@_optimize(none)
func raptorHandleStream(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let connection, let context else { return }
    Unmanaged<Application>.fromOpaque(context).takeUnretainedValue().handle(connection, HTTP2Calls.self)
}
