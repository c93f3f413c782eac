import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// The `raptor-ev` command line, for any program built on the library.
///
/// A program's `main.swift` is one line, and it gets every flag of `raptor-ev serve`:
///
///     import Raptor
///     RaptorCommandLine.main(handler: { request in Response(body: "Hello\n") })
///
/// Without a handler (the `raptor-ev` binary) `serve` serves static files from a directory.
public enum RaptorCommandLine {
    /// EX_USAGE from sysexits.h: the command line was wrong.
    static let usageExitCode: Int32 = 64

    /// Parses the process's arguments, runs the command, and exits: 0 after a graceful
    /// stop, 64 for an invalid command line or configuration, 1 when the server cannot run
    /// (a bind fails, say).
    public static func main(handler: Handler? = nil, hooks: Hooks = Hooks()) -> Never {
        let application = handler.map { ApplicationSource.handler($0) }
        main(arguments: Array(CommandLine.arguments.dropFirst()), application: application, hooks: hooks)
    }

    /// The same for a responder made before fork and shared by every worker, such as an
    /// async handler (each request a Task in the worker; see `Responder.async`):
    ///
    ///     RaptorCommandLine.main(responder: .async { request in
    ///         try await Task.sleep(for: .milliseconds(10))
    ///         return Response(body: "Hello\n")
    ///     })
    public static func main(responder: Responder, hooks: Hooks = Hooks()) -> Never {
        main(arguments: Array(CommandLine.arguments.dropFirst()), application: .responder(responder), hooks: hooks)
    }

    /// The same, for an application built in each worker by `factory` after fork (see
    /// `ApplicationFactory`, `WorkerContext`):
    ///
    ///     RaptorCommandLine.main(perWorker: { worker in
    ///         let pool = ConnectionPool(size: 4)
    ///         worker.addService(pool)
    ///         return .sync { request in ... }
    ///     })
    public static func main(hooks: Hooks = Hooks(), perWorker factory: @escaping ApplicationFactory) -> Never {
        main(arguments: Array(CommandLine.arguments.dropFirst()), application: .perWorker(factory), hooks: hooks)
    }

    static func main(arguments: [String], application: ApplicationSource?, hooks: Hooks) -> Never {
        // Before parsing: ArgumentParser creates the command, so this is how `serve` gets them
        // (see CommandLineContext).
        CommandLineContext.application = application
        CommandLineContext.hooks = hooks
        do {
            var command = try RaptorCommand.parseAsRoot(arguments)
            try command.run()
        } catch {
            exitReporting(error)
        }
        Glibc.exit(0)
    }

    /// Prints one line for `error` on standard error and exits with its status; help and
    /// `--version` go to standard output with status 0, as ArgumentParser prints them.
    static func exitReporting(_ error: any Error) -> Never {
        if let error = error as? RaptorError {
            printToStandardError("Error: \(error)")
            if case .invalidConfiguration = error { Glibc.exit(usageExitCode) }
            Glibc.exit(1)
        }
        guard RaptorCommand.exitCode(for: error) == .validationFailure else {
            RaptorCommand.exit(withError: error)
        }
        printToStandardError(usageErrorText(for: error))
        Glibc.exit(usageExitCode)
    }

    /// ArgumentParser's message for a bad command line is the error, a `Help:` line, the
    /// full usage (which spans many lines with every flag of `serve`), then a pointer to
    /// `--help`. Keep the first line (the flag and the problem) and the pointer.
    static func usageErrorText(for error: any Error) -> String {
        let lines = RaptorCommand.fullMessage(for: error).split(separator: "\n")
        guard let first = lines.first else { return "Error: \(error)" }
        guard let pointer = lines.last(where: { $0.contains("--help") }), pointer != first else {
            return String(first)
        }
        return first + "\n" + pointer.drop { $0 == " " }
    }

    private static func printToStandardError(_ text: String) {
        LineWriter.write(text, to: LineWriter.standardError)
    }
}
