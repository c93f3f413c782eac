/// `--metrics-token`: a bearer token (RFC 6750) that `GET /metrics` must present as
/// `Authorization: Bearer TOKEN`.
struct BearerToken: Sendable {
    static let maximumLength = 1024

    private let expected: [UInt8]

    init(_ token: String) {
        expected = Array(token.utf8)
    }

    /// RFC 6750's b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isValid(_ token: String) -> Bool {
        let bytes = Array(token.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        let body = bytes.prefix { $0 != UInt8(ascii: "=") }
        guard !body.isEmpty, bytes[body.count...].allSatisfy({ $0 == UInt8(ascii: "=") }) else { return false }
        return body.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default: false
            }
        }
    }

    /// Whether an Authorization field value carries this token. The comparison takes the
    /// same time whatever the presented token is (every byte of the expected one is
    /// compared, differences are or-ed together), so timing tells an attacker nothing about
    /// how much of a guess was right.
    func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let field = Array(authorization.utf8)
        // The scheme is case-insensitive (RFC 9110 section 11.1), then one or more spaces.
        let scheme = Array("bearer".utf8)
        guard field.count > scheme.count,
            zip(field, scheme).allSatisfy({ $0 | 0x20 == $1 }), field[scheme.count] == UInt8(ascii: " ")
        else { return false }
        let presented = field[(scheme.count + 1)...].drop { $0 == UInt8(ascii: " ") }
        return Self.constantTimeEqual(Array(presented), expected)
    }

    /// Equal in time that depends only on `expected`'s length.
    static func constantTimeEqual(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt64(presented.count ^ expected.count)
        for index in expected.indices {
            let byte = index < presented.count ? presented[index] : 0
            difference |= UInt64(byte ^ expected[index])
        }
        return difference == 0
    }
}
