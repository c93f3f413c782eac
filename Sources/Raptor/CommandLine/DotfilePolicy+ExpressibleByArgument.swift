import ArgumentParser

/// `--dotfiles deny|allow`: the raw values are the spellings.
extension StaticFiles.DotfilePolicy: ExpressibleByArgument {}
