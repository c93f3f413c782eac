import ArgumentParser

/// The root command. It has no options of its own besides `--help` and `--version`;
/// `serve` is the default subcommand, so a bare `raptor-ev` (or `raptor-ev -b ...`)
/// serves.
///
/// Deliberately a synchronous `ParsableCommand`, not an `AsyncParsableCommand`: an async
/// main starts the Swift concurrency runtime (and Dispatch) in the master, and a worker
/// forked after that hangs on its first use of Dispatch. The master must stay free of
/// both until every worker is forked.
struct RaptorCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: CommandLineContext.commandName,
            abstract: "A prefork HTTP/1.1 server.",
            version: RaptorVersion.description,
            subcommands: [ServeCommand.self, StatsCommand.self],
            defaultSubcommand: ServeCommand.self)
    }
}
