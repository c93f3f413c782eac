import Logging

/// A swift-log handler that writes one line per event to standard error: text for a
/// terminal, JSON lines for a collector (see `LogLine`).
///
/// The `raptor-ev` command line bootstraps it; the library itself never bootstraps
/// logging. A program that embeds `Server` without the command line may use it too:
///
///     LoggingSystem.bootstrap { RaptorLogHandler(label: $0, format: .json) }
public struct RaptorLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let format: Configuration.LogFormat
    /// Where the lines go; standard error unless a test says otherwise.
    let fileDescriptor: Int32

    /// - Parameters:
    ///   - label: the logger's label (not written: one process logs for one server).
    ///   - format: text or JSON lines.
    ///   - logLevel: the least severe level written. Default `.info`.
    ///   - metadataProvider: contextual metadata added to every event.
    public init(
        label: String, format: Configuration.LogFormat, logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.init(
            label: label, format: format, logLevel: logLevel, metadataProvider: metadataProvider,
            fileDescriptor: LineWriter.standardError)
    }

    init(
        label: String, format: Configuration.LogFormat, logLevel: Logger.Level,
        metadataProvider: Logger.MetadataProvider?, fileDescriptor: Int32
    ) {
        self.format = format
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The event's own metadata wins over the provider's, which wins over the handler's.
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let eventMetadata = event.metadata {
            merged.merge(eventMetadata) { _, new in new }
        }
        let line = LogLine.render(
            level: event.level, message: event.message.description, metadata: merged,
            error: event.error, time: WallClock.now(), format: format)
        LineWriter.write(line, to: fileDescriptor)
    }
}
