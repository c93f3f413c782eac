import ArgumentParser

/// `--forwarded-header x-forwarded-for|forwarded|none`: the raw values are the spellings.
extension Configuration.ForwardedHeader: ExpressibleByArgument {}
