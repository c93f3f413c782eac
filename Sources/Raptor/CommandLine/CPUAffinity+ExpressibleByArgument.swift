import ArgumentParser

/// `--cpu-affinity none|auto`: the raw values are the spellings.
extension Configuration.CPUAffinity: ExpressibleByArgument {}
