import ArgumentParser

/// A size in bytes as written on the command line: `1048576`, `512k`, `16m`, `1g`,
/// `64KiB`, `16MiB`, `1GiB`, `64KB`, `16MB`, `1.5m`; units are case-insensitive.
///
/// Every unit is a power of 1024 (`k` = `KB` = `KiB` = 1024 bytes): these values are
/// buffer and body limits, which people reason about in binary units (the defaults are
/// 64 KiB, 1 MiB, 16 MiB), and nginx, Puma and most servers read `k` and `m` that way. A
/// `KB` meaning 1000 would make `--max-header-size 64KB` quietly differ from the 64 KiB
/// default. A fraction is allowed (`1.5m`) and rounded down to whole bytes.
struct ByteSize: Sendable, Equatable, CustomStringConvertible, ExpressibleByArgument {
    var bytes: UInt64

    /// The largest size accepted: Int64.max, so every size also fits the `Int` properties
    /// of `Configuration` (maxHeaderSize, maxTargetSize) on a 64-bit system.
    static let maximum = UInt64(Int64.max)

    init(bytes: UInt64) {
        self.bytes = bytes
    }

    init?(argument: String) {
        guard let size = try? ByteSize(parsing: argument) else { return nil }
        self = size
    }

    /// Reads a size; the error says what is wrong and what would be right.
    init(parsing text: String) throws {
        let syntax =
            "expected a byte count or a number with a unit, as 1048576, 512k, 16m, 1g or 64KiB"
        guard let number = DecimalNumber(prefixOf: text) else {
            throw ArgumentValueError(description: syntax)
        }
        let unitText = text.dropFirst(number.length)
        guard let multiplier = Self.multiplier(forUnit: unitText.lowercased()) else {
            throw ArgumentValueError(
                description:
                    "'\(unitText)' is not a size unit; use k, m, g or t (KiB, MiB, GiB, TiB,"
                    + " KB, MB, GB and TB mean the same, powers of 1024)")
        }
        guard let bytes = number.scaled(by: multiplier), bytes <= Self.maximum else {
            throw ArgumentValueError(
                description: "too large; the largest size is \(Self.maximum) bytes")
        }
        self.bytes = bytes
    }

    private static func multiplier(forUnit unit: String) -> UInt64? {
        switch unit {
        case "", "b": return 1
        case "k", "kb", "kib": return 1 << 10
        case "m", "mb", "mib": return 1 << 20
        case "g", "gb", "gib": return 1 << 30
        case "t", "tb", "tib": return 1 << 40
        default: return nil
        }
    }

    /// The shortest exact spelling: `16MiB`, `64KiB`, `1000`.
    var description: String {
        let units: [(String, UInt64)] = [
            ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ]
        for (name, multiplier) in units where bytes >= multiplier && bytes % multiplier == 0 {
            return "\(bytes / multiplier)\(name)"
        }
        return String(bytes)
    }

    var defaultValueDescription: String { description }
}
