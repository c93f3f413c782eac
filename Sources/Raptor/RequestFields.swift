internal import CRaptor
import HTTPTypes

/// The header (or trailer) fields of a request, in the order they were sent.
///
/// Lookup by `HTTPField.Name` is case-insensitive and copies only the value it returns;
/// nothing is built per request until asked for. Like `Request`, a view into the
/// connection's buffer that cannot outlive the handler (`~Escapable`); `all` copies
/// every field out.
public struct RequestFields: ~Escapable {
    let raw: UnsafePointer<rv_request>
    let buffer: UnsafePointer<UInt8>
    let range: Range<Int>

    @_lifetime(immortal)
    init(raw: UnsafePointer<rv_request>, buffer: UnsafePointer<UInt8>, range: Range<Int>) {
        self.raw = raw
        self.buffer = buffer
        self.range = range
    }

    /// One field as sent: the name keeps the client's spelling.
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    public var count: Int { range.count }

    public var isEmpty: Bool { range.isEmpty }

    /// The positions of the fields, for `self[position]`.
    public var indices: Range<Int> { 0..<range.count }

    /// The field at `position` (`0 ..< count`), in the order sent.
    public subscript(position: Int) -> Field {
        precondition(indices.contains(position), "field position \(position) out of range 0..<\(count)")
        let index = range.lowerBound + position
        return Field(name: name(at: index), value: value(at: index))
    }

    /// Every field, copied, in the order sent.
    public var all: [Field] { indices.map { self[$0] } }

    /// The first value of the field, or nil when the request does not have it.
    public subscript(name: HTTPField.Name) -> String? {
        for index in range where matches(index, name) {
            return value(at: index)
        }
        return nil
    }

    /// Every value of a repeated field, in order.
    public func values(for name: HTTPField.Name) -> [String] {
        range.filter { matches($0, name) }.map { value(at: $0) }
    }

    /// True when the field is present.
    public func contains(_ name: HTTPField.Name) -> Bool {
        range.contains { matches($0, name) }
    }

    /// Read in place: `withUnsafeBytes(of: raw.pointee.fields)` copied the whole array of
    /// fields (1.6 KB) on every call, several times per lookup.
    private func field(_ index: Int) -> rv_field {
        UnsafeRawPointer(raw).load(
            fromByteOffset: Self.fieldsOffset + index * MemoryLayout<rv_field>.stride, as: rv_field.self)
    }

    private static let fieldsOffset = MemoryLayout<rv_request>.offset(of: \.fields)!

    private func span(_ span: rv_span) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: buffer + Int(span.off), count: Int(span.len))
    }

    private func name(at index: Int) -> String {
        String(decoding: span(field(index).name), as: UTF8.self)
    }

    /// The name of field `index` (in `range`) as sent, without a copy: for readers that
    /// look for several fields in one pass instead of one lookup each.
    func nameBytes(at index: Int) -> UnsafeBufferPointer<UInt8> {
        span(field(index).name)
    }

    func value(at index: Int) -> String {
        String(decoding: span(field(index).value), as: UTF8.self)
    }

    /// `HTTPField.Name.canonicalName` is lowercase, so one side needs folding.
    private func matches(_ index: Int, _ name: HTTPField.Name) -> Bool {
        let sent = span(field(index).name)
        var canonical = name.canonicalName
        return canonical.withUTF8 { wanted in
            guard wanted.count == sent.count else { return false }
            for offset in 0..<sent.count where ASCII.lowercased(sent[offset]) != wanted[offset] {
                return false
            }
            return true
        }
    }
}

enum ASCII {
    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte &+ ((byte &- 0x41) < 26 ? 0x20 : 0)
    }
}
