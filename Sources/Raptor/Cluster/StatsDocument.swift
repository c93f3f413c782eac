#if canImport(Glibc)
    import Glibc
#endif

/// A JSON value, as `raptor-ev stats` reads the stats file. A small reader (RFC 8259)
/// rather than Foundation, which the library does not link.
enum JSONValue: Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case number(Double)
    case string(String)
    case bool(Bool)
    case null

    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    var number: Double? {
        switch self {
        case .number(let value): value
        case .bool(let flag): flag ? 1 : 0
        default: nil
        }
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    struct SyntaxError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    static func parse(_ text: String) throws -> JSONValue {
        var reader = Reader(bytes: Array(text.utf8))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == reader.bytes.count else { throw reader.error("unexpected data after the value") }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        func error(_ reason: String) -> SyntaxError { SyntaxError(offset: index, reason: reason) }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ literal: String) throws {
            for byte in literal.utf8 {
                guard index < bytes.count, bytes[index] == byte else { throw error("expected \(literal)") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 64 else { throw error("nested too deeply") }
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var members: [String: JSONValue] = [:]
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    members[key] = try value(depth: depth + 1)
                    skipSpace()
                    guard index < bytes.count else { throw error("unexpected end in an object") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: "}") {
                        index += 1
                        return .object(members)
                    } else {
                        throw error("expected , or }")
                    }
                }
            case UInt8(ascii: "["):
                index += 1
                var values: [JSONValue] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(values)
                }
                while true {
                    skipSpace()
                    values.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw error("unexpected end in an array") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: "]") {
                        index += 1
                        return .array(values)
                    } else {
                        throw error("expected , or ]")
                    }
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default: return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let start = index
            let allowed = Set("+-0123456789.eE".utf8)
            while index < bytes.count, allowed.contains(bytes[index]) { index += 1 }
            guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)) else {
                index = start
                throw error("expected a value")
            }
            return value
        }

        mutating func string() throws -> String {
            try expect("\"")
            var output: [UInt8] = []
            while true {
                guard index < bytes.count else { throw error("unterminated string") }
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: output, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw error("unterminated escape") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "n"): output.append(0x0A)
                    case UInt8(ascii: "t"): output.append(0x09)
                    case UInt8(ascii: "r"): output.append(0x0D)
                    case UInt8(ascii: "b"): output.append(0x08)
                    case UInt8(ascii: "f"): output.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard index + 4 <= bytes.count,
                            var code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
                        else { throw error("bad \\u escape") }
                        index += 4
                        // A surrogate pair: \uD83D\uDE00.
                        if (0xD800..<0xDC00).contains(code), index + 6 <= bytes.count,
                            bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                            let low = UInt32(String(decoding: bytes[index + 2..<index + 6], as: UTF8.self), radix: 16),
                            (0xDC00..<0xE000).contains(low)
                        {
                            index += 6
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        output += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
                    default: output.append(escape)  // \" \\ \/
                    }
                default:
                    output.append(byte)
                }
            }
        }
    }
}

/// The stats file read back: what `raptor-ev stats` prints.
struct StatsReport {
    let document: JSONValue
    let raw: String

    enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case unreadable(String, String)
        case stale(String, String)

        var description: String {
            switch self {
            case .missing(let path):
                "no stats file at \(path): is the server running with --stats-file \(path)?"
            case .unreadable(let path, let reason): "cannot read the stats file \(path): \(reason)"
            case .stale(let path, let reason): "the stats file \(path) is stale: \(reason)"
            }
        }
    }

    /// Reads `path`; missing, malformed and stale files (master gone, or not rewritten for
    /// `maximumAge` seconds) are errors.
    static func load(path: String, now: Double = WallClock.seconds(), maximumAge: Double = 5) throws -> StatsReport {
        guard access(path, F_OK) == 0 else { throw Failure.missing(path) }
        guard let raw = ProcessorCount.readFile(path) else {
            throw Failure.unreadable(path, String(cString: strerror(errno)))
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(raw)
        } catch {
            throw Failure.unreadable(path, "\(error)")
        }
        guard let masterPid = document["master_pid"]?.number, let updatedAt = document["updated_at"]?.number,
            document["workers"]?.array != nil
        else { throw Failure.unreadable(path, "not a raptor-ev stats file") }
        guard Pidfile.isAlive(pid_t(masterPid)) else {
            throw Failure.stale(path, "its master (pid \(Int(masterPid))) is not running")
        }
        let age = now - updatedAt
        guard age <= maximumAge else {
            throw Failure.stale(path, "last written \(Int(age)) s ago by pid \(Int(masterPid))")
        }
        return StatsReport(document: document, raw: raw)
    }

    /// The table: a heading, one row per worker and a total row.
    func table(now: Double = WallClock.seconds()) -> String {
        let columns = [
            "worker", "pid", "phase", "state", "uptime", "requests", "conns", "idle", "backlog", "busy", "2xx", "3xx",
            "4xx", "5xx", "errors", "timeouts", "503", "fd503", "tls-errors", "rss", "checkin",
        ]
        func count(_ object: JSONValue, _ key: String) -> String {
            object[key]?.number.map { String(UInt64(max(0, $0))) } ?? "-"
        }
        func mebibytes(_ object: JSONValue) -> String {
            object["rss_bytes"]?.number.map { "\(Int(($0 / 1_048_576).rounded()))M" } ?? "-"
        }
        var rows: [[String]] = [columns]
        let workers = document["workers"]?.array ?? []
        for worker in workers {
            let started = worker["started_at"]?.number ?? now
            let checkin = worker["last_checkin"]?.number ?? 0
            rows.append([
                count(worker, "index"), count(worker, "pid"), count(worker, "phase"),
                worker["state"]?.string ?? "-", Self.duration(now - started), count(worker, "requests"),
                count(worker, "active_connections"), count(worker, "keepalive_connections"), count(worker, "backlog"),
                "\(count(worker, "busy_threads"))/\(count(worker, "thread_capacity"))", count(worker, "responses_2xx"),
                count(worker, "responses_3xx"), count(worker, "responses_4xx"), count(worker, "responses_5xx"),
                count(worker, "parse_errors"), count(worker, "timeouts"), count(worker, "shed_503"),
                count(worker, "fd_limit_503"), count(worker, "tls_handshake_errors"), mebibytes(worker),
                checkin > 0 ? Self.duration(now - checkin) + " ago" : "-",
            ])
        }
        let totals = document["totals"] ?? .object([:])
        rows.append([
            "total", "", "", workers.count == 1 ? "1 worker" : "\(workers.count) workers", "",
            count(totals, "requests"),
            count(totals, "active_connections"), count(totals, "keepalive_connections"), count(totals, "backlog"),
            "\(count(totals, "busy_threads"))/\(count(totals, "thread_capacity"))", count(totals, "responses_2xx"),
            count(totals, "responses_3xx"), count(totals, "responses_4xx"), count(totals, "responses_5xx"),
            count(totals, "parse_errors"), count(totals, "timeouts"), count(totals, "shed_503"),
            count(totals, "fd_limit_503"), count(totals, "tls_handshake_errors"), mebibytes(totals), "",
        ])
        let widths = columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = "master \(count(document, "master_pid")), phase \(count(document, "phase")),"
        let configured = count(document, "workers_configured")
        text += " \(configured) worker\(configured == "1" ? "" : "s") (\(document["listener_mode"]?.string ?? "-"))"
        if let state = document["state"]?.string {
            text += ", \(state), " + (document["ready"] == .bool(true) ? "ready" : "not ready")
        }
        if document["phased_restart"] == .bool(true) { text += ", phased restart in progress" }
        text += ", up \(Self.duration(now - (document["started_at"]?.number ?? now)))\n"
        for row in rows {
            let cells = row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                // Numbers right-aligned, words left-aligned.
                return column >= 5 && column != columns.count - 1 ? padding + cell : cell + padding
            }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            text += line + "\n"
        }
        return text
    }

    /// `0s`, `42s`, `3m12s`, `5h02m`, `2d03h`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(max(0, seconds))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(two(total % 60))s" }
        if total < 86400 { return "\(total / 3600)h\(two(total % 3600 / 60))m" }
        return "\(total / 86400)d\(two(total % 86400 / 3600))h"
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
}

extension WallClock {
    /// Unix time in seconds, with the fraction.
    static func seconds() -> Double {
        let time = now()
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
