import ArgumentParser
import Logging

/// `--log-format text|json` and `--log-level debug|info|...`: the raw values are the
/// spellings.
extension Configuration.LogFormat: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
