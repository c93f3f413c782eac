import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// `raptor-ev stats`: the cluster's stats file as a table (one row per worker and a
/// total), or the raw JSON document with `--json`.
struct StatsCommand: ParsableCommand {
    static let environmentVariable = "RAPTOR_STATS_FILE"

    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "stats",
            abstract: "Show the workers' stats from the file a running server writes (serve --stats-file).",
            discussion: """
                The file is rewritten every second by the master; a missing file, or one whose
                master is gone or that was not rewritten for 5 s, is an error (exit status 1).
                The schema is described in docs/stats-schema.md.
                """)
    }

    @Option(
        help: ArgumentHelp(
            "The stats file the server writes (its --stats-file). (default: $\(StatsCommand.environmentVariable))",
            valueName: "path"))
    var statsFile: String?

    @Flag(help: "Print the JSON document as the server wrote it, instead of the table.")
    var json = false

    func run() throws {
        guard let path = statsFile ?? getenv(Self.environmentVariable).map({ String(cString: $0) }), !path.isEmpty
        else {
            throw RaptorError.cannotRun(
                "no stats file: pass --stats-file PATH (as given to serve) or set \(Self.environmentVariable)")
        }
        let report: StatsReport
        do {
            report = try StatsReport.load(path: path)
        } catch {
            throw RaptorError.cannotRun("\(error)")
        }
        var output = json ? report.raw : report.table()
        if output.hasSuffix("\n") { output.removeLast() }
        LineWriter.write(output, to: LineWriter.standardOutput)
    }
}
