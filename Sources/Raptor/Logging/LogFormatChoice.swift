#if canImport(Glibc)
    import Glibc
#endif

extension Configuration {
    /// The log format in effect: `logFormat`, or when it is nil, text if standard error is
    /// a terminal (a person is reading) and JSON lines otherwise (a collector is reading).
    var effectiveLogFormat: LogFormat {
        logFormat ?? (isatty(LineWriter.standardError) == 1 ? .text : .json)
    }

    /// The access log's format, nil when it is off: the same choice (Common Log Format
    /// with text, JSON lines with JSON), so a person at a terminal reads text in both.
    var accessLogFormat: LogFormat? {
        accessLog ? effectiveLogFormat : nil
    }
}
