import ArgumentParser

/// `--listener reuseport|shared`: the raw values are the spellings.
extension Configuration.ListenerMode: ExpressibleByArgument {}
