import XCTest

@testable import Raptor

/// The cluster's pure parts: backoff, CPU counting, the reuseport group model and its BPF
/// program, the hot-restart encoding, the stats document reader and table.
final class ClusterUnitTests: XCTestCase {
    func testBackoffDoublesWhileWorkersDieYoungAndResetsAfterAGoodRun() {
        var backoff = Backoff()
        let delays = (0..<10).map { _ in backoff.delay(afterLifetime: 0.2) }
        XCTAssertEqual(delays, [0, 0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        XCTAssertEqual(backoff.delay(afterLifetime: 60), 0, "a worker that lived resets the count")
        XCTAssertEqual(backoff.delay(afterLifetime: 1), 0, "the first quick death respawns at once")
        XCTAssertEqual(backoff.delay(afterLifetime: 1), 0.5)
    }

    func testProcessorCountReadsAffinityAndCgroupQuotas() {
        XCTAssertEqual(ProcessorCount.affinityCount(procStatus: "Name:\tx\nCpus_allowed_list:\t0-3,8,10-11\n"), 7)
        XCTAssertEqual(ProcessorCount.affinityCount(procStatus: "Cpus_allowed_list:\t5\n"), 1)
        XCTAssertNil(ProcessorCount.affinityCount(procStatus: "Cpus_allowed_list:\tgarbage\n"))
        XCTAssertNil(ProcessorCount.quotaV2(cpuMax: "max 100000\n"))
        XCTAssertEqual(ProcessorCount.quotaV2(cpuMax: "150000 100000\n"), 2)
        XCTAssertEqual(ProcessorCount.quotaV2(cpuMax: "50000 100000\n"), 1)
        XCTAssertNil(ProcessorCount.quotaV1(quota: "-1\n", period: "100000\n"))
        XCTAssertEqual(ProcessorCount.quotaV1(quota: "400000\n", period: "100000\n"), 4)
        XCTAssertEqual(ProcessorCount.ancestors("/a/b"), ["/a/b", "/a", ""])
        XCTAssertEqual(ProcessorCount.ancestors("/"), [""])
        XCTAssertGreaterThanOrEqual(ProcessorCount.available, 1)
    }

    func testReuseportGroupFollowsTheKernelsOrder() {
        var group = ReuseportGroup(slots: 3)
        XCTAssertEqual(group.indices(of: [0, 2]), [0, 2])
        group.retire(slot: 2, id: 1)
        group.join(slot: 3)  // a TTIN before the retired socket closed: appended after it
        XCTAssertEqual(group.indices(of: [0, 1, 3]), [0, 1, 3])
        group.leave(retired: 1)  // the kernel moves the last socket into the hole
        XCTAssertEqual(group.members, [.slot(0), .slot(1), .slot(3)])
        XCTAssertEqual(group.indices(of: [3]), [2])
        group.retire(slot: 3, id: 2)
        group.leave(retired: 2)
        XCTAssertEqual(group.members, [.slot(0), .slot(1)])
    }

    func testSteeringProgramPicksOnlyEligibleIndices() {
        func instructions(_ bytes: [UInt8]) -> [(UInt16, UInt8, UInt8, UInt32)] {
            stride(from: 0, to: bytes.count, by: 8).map { offset in
                let code = UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
                let constant = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + 4 + $1]) << (8 * $1) }
                return (code, bytes[offset + 2], bytes[offset + 3], constant)
            }
        }
        let all = instructions(ReuseportSteering.program(choosing: [0, 1, 2]))
        XCTAssertEqual(all.map(\.0), [0x20, 0x94, 0x16])  // A = random; A %= 3; return A
        XCTAssertEqual(all[0].3, 0xFFFF_F038)
        XCTAssertEqual(all[1].3, 3)
        let some = instructions(ReuseportSteering.program(choosing: [1, 3]))
        // A = random % 2; A == 0 ? return 1 : return 3
        XCTAssertEqual(some.map(\.0), [0x20, 0x94, 0x15, 0x06, 0x06])
        XCTAssertEqual(some.map(\.3), [0xFFFF_F038, 2, 0, 1, 3])
        XCTAssertEqual(some[2].2, 1, "jump over the return when not equal")
    }

    func testHotRestartEncodingRoundTrips() {
        for text in ["tcp://127.0.0.1:9292", "unix:///tmp/a,b:c%d.sock", "tcp://[::1]:80", "é ü"] {
            let encoded = HotRestart.percentEncoded(text)
            XCTAssertFalse(encoded.contains(",") || encoded.contains(":") || encoded.contains(" "), encoded)
            XCTAssertEqual(HotRestart.percentDecoded(encoded), text)
        }
    }

    func testJSONReaderReadsWhatTheStatsFileWrites() throws {
        let value = try JSONValue.parse(
            #"{"a":1,"b":[true,false,null],"c":"x\"y\\z\u00e9\ud83d\ude00","d":-1.5e2,"e":{}}"#)
        XCTAssertEqual(value["a"], .number(1))
        XCTAssertEqual(value["b"], .array([.bool(true), .bool(false), .null]))
        XCTAssertEqual(value["c"]?.string, "x\"y\\zé😀")
        XCTAssertEqual(value["d"]?.number, -150)
        XCTAssertEqual(value["e"], .object([:]))
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "tru", "1 2", "\"open"] {
            XCTAssertThrowsError(try JSONValue.parse(bad), bad)
        }
    }

    func testStatsTableHasOneRowPerWorkerAndATotal() throws {
        let document = try JSONValue.parse(
            """
            {"version":1,"master_pid":10,"started_at":1000,"updated_at":1100.5,"phase":2,"workers_configured":2,
             "listener_mode":"reuseport","phased_restart":false,
             "workers":[{"slot":0,"state":"running","pid":11,"index":0,"phase":2,"booted":true,"started_at":1000,
               "last_checkin":1100,"requests":7,"busy_threads":1,"thread_capacity":5,"responses_2xx":7},
              {"slot":1,"state":"booting","pid":12,"index":1,"phase":2,"booted":false,"started_at":1099,
               "last_checkin":0,"requests":0,"thread_capacity":5}],
             "totals":{"workers":2,"requests":7,"busy_threads":1,"thread_capacity":10,"responses_2xx":7}}
            """)
        let table = StatsReport(document: document, raw: "").table(now: 1101)
        let rows = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.count, 5, table)
        XCTAssertEqual(rows[0], "master 10, phase 2, 2 workers (reuseport), up 1m41s")
        XCTAssertTrue(rows[2].hasPrefix("0       11   2      running"), table)
        XCTAssertTrue(rows[2].contains(" 1/5 "), table)
        XCTAssertTrue(rows[2].hasSuffix("1s ago"), table)
        XCTAssertTrue(rows[3].contains("booting"), table)
        XCTAssertTrue(rows[4].hasPrefix("total"), table)
        XCTAssertTrue(rows[4].contains(" 1/10 "), table)
        XCTAssertEqual(StatsReport.duration(59), "59s")
        XCTAssertEqual(StatsReport.duration(3725), "1h02m")
        XCTAssertEqual(StatsReport.duration(90000), "1d01h")
    }

    func testSecondsForLogValues() {
        XCTAssertEqual(Master.seconds(0.5), "0.5")
        XCTAssertEqual(Master.seconds(30), "30")
        XCTAssertEqual(Master.seconds(1.2345), "1.235")
        XCTAssertEqual(Master.seconds(0.1004), "0.1")
    }
}
