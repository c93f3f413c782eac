/// What `RaptorCommandLine.main` was given, kept where the `serve` command can find it.
///
/// Why a global: ArgumentParser creates the command itself, by decoding it from the
/// arguments, so there is no initializer through which to pass a handler, and a closure
/// cannot be a parsed property. `RaptorCommandLine.main` writes these once, before parsing,
/// on the main thread, before any other thread exists; `ServeCommand.run` reads them later
/// on that same thread; nothing else touches them. That single-threaded, write-once use is
/// what makes `nonisolated(unsafe)` sound here.
enum CommandLineContext {
    /// The program's own application; nil for the `raptor-ev` binary, which serves files.
    nonisolated(unsafe) static var application: ApplicationSource?
    nonisolated(unsafe) static var hooks = Hooks()

    /// The name the program was run as (`raptor-ev`, or the name of a tool built on the
    /// library), so usage and errors name the command the user typed.
    static var commandName: String {
        let invokedAs = CommandLine.arguments.first?.split(separator: "/").last.map(String.init)
        return invokedAs ?? "raptor-ev"
    }
}
