import ArgumentParser

/// A feature switch on the command line (`--http2 on|off`).
enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on
    case off
}
