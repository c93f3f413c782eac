import ArgumentParser

/// `--log-format text|json`: the raw values are the spellings.
extension Configuration.LogFormat: ExpressibleByArgument {}
