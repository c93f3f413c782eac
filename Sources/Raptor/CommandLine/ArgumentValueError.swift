/// Why a command-line value could not be read. ArgumentParser prints `description` after
/// the flag and the value: `The value '12x' is invalid for '--max-body-size <size>': ...`.
struct ArgumentValueError: Error, CustomStringConvertible {
    let description: String
}
