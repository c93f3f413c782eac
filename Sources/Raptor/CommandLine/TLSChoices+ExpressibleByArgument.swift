import ArgumentParser

/// `--tls-min-version 1.2|1.3` and `--tls-verify none|optional|required`: the raw values
/// are the spellings.
extension TLSVersion: ExpressibleByArgument {}
extension TLSVerify: ExpressibleByArgument {}
