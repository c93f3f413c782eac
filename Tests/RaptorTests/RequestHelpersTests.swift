import XCTest

@testable import Raptor

/// The pure pieces behind `Request` and `Configuration`: percent-decoding, bind URLs,
/// and the backpressure threshold.
final class RequestHelpersTests: XCTestCase {
    // RFC 3986 section 2.1: %XX escapes, hex digits of either case.
    func testPercentDecodingDecodesEscapes() {
        XCTAssertEqual(PercentDecoding.decode("/a%20b/%C3%A9"), "/a b/é")
        XCTAssertEqual(PercentDecoding.decode("/a%2fb"), "/a/b")
        XCTAssertEqual(PercentDecoding.decode("/plus+stays"), "/plus+stays")
    }

    func testPercentDecodingRejectsMalformedEscapesAndInvalidUTF8() {
        XCTAssertNil(PercentDecoding.decode("/%"))
        XCTAssertNil(PercentDecoding.decode("/%2"))
        XCTAssertNil(PercentDecoding.decode("/%zz"))
        XCTAssertNil(PercentDecoding.decode("/%ff"))
    }

    func testFormItemsDecodePlusAndKeepOrder() {
        let items = PercentDecoding.formItems("b=2&a=x+y&empty=&flag&bad=%zz")
        XCTAssertEqual(items.map(\.name), ["b", "a", "empty", "flag"])
        XCTAssertEqual(items.map(\.value), ["2", "x y", "", ""])
    }

    func testBindAddressForms() throws {
        XCTAssertEqual(try BindAddress(parsing: "tcp://0.0.0.0:9292"), .tcp(host: "0.0.0.0", port: 9292))
        XCTAssertEqual(try BindAddress(parsing: "tcp://[::1]:8080"), .tcp(host: "::1", port: 8080))
        XCTAssertEqual(try BindAddress(parsing: "tcp://localhost:0"), .tcp(host: "localhost", port: 0))
        XCTAssertEqual(try BindAddress(parsing: "unix:///run/app.sock"), .unix(path: "/run/app.sock"))
        XCTAssertEqual(BindAddress.tcp(host: "::1", port: 1).description, "tcp://[::1]:1")
    }

    func testBindAddressErrorsNameTheFlag() {
        for bad in [
            "http://x:1", "tcp://x", "tcp://:80", "tcp://x:99999", "tcp://::1:80", "tcp://[::1", "unix://relative",
        ] {
            XCTAssertThrowsError(try BindAddress(parsing: bad), bad) { error in
                guard case RaptorError.invalidConfiguration(let option, _) = error else {
                    return XCTFail("\(bad): \(error)")
                }
                XCTAssertEqual(option, "--bind")
            }
        }
    }

    // Raptor's rule: stop accepting while max(ceil(threads x 1.2), 8) requests wait.
    func testAcceptPauseBacklogFollowsRaptorsRule() {
        var configuration = Configuration()
        for (threads, expected) in [(0, 8), (5, 8), (7, 9), (10, 12), (16, 20)] {
            configuration.threads = threads
            XCTAssertEqual(configuration.acceptPauseBacklog, expected, "threads \(threads)")
        }
    }

    // The request line is part of the header section: a small header limit caps the target
    // limit instead of making the default target limit an error.
    func testHeaderSizeCapsTheTargetLimit() throws {
        var configuration = Configuration()
        configuration.maxHeaderSize = 1024
        XCTAssertNoThrow(try configuration.validate())
        XCTAssertEqual(configuration.effectiveMaxTargetSize, 1024)
        configuration.maxHeaderSize = 64 << 10
        XCTAssertEqual(configuration.effectiveMaxTargetSize, 8 << 10)
    }
}
