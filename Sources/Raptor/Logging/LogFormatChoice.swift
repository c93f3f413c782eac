#if canImport(Glibc)
    import Glibc
#endif

extension Configuration {
    /// The log format in effect: `logFormat`, or when it is nil, text if standard error is
    /// a terminal (a person is reading) and JSON lines otherwise (a collector is reading).
    /// The access log follows the same choice.
    var effectiveLogFormat: LogFormat {
        logFormat ?? (isatty(LineWriter.standardError) == 1 ? .text : .json)
    }
}
