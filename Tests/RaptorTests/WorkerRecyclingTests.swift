import Testing

@testable import Raptor

@Suite struct WorkerRecyclingTests {
    private func recycling(maxRSS: UInt64? = nil, maxRequests: Int? = nil) -> WorkerRecycling {
        var configuration = Configuration()
        configuration.workerMaxRSS = maxRSS
        configuration.workerMaxRequests = maxRequests
        return WorkerRecycling(configuration: configuration)
    }

    /// Each worker gets its own limit between N and N + 10 %, so workers started together
    /// are not all replaced together.
    @Test func requestLimitsAreJittered() {
        let policy = recycling(maxRequests: 1000)
        var random = SystemRandomNumberGenerator()
        let limits = (0..<200).compactMap { _ in policy.requestLimit(using: &random) }
        #expect(limits.count == 200)
        #expect(limits.allSatisfy { (1000...1100).contains($0) })
        #expect(Set(limits).count > 20)
        #expect(recycling().requestLimit(using: &random) == nil)
        #expect(recycling(maxRequests: 1).requestLimit(using: &random) == 1)
    }

    @Test func verdicts() {
        let policy = recycling(maxRSS: 100 << 20, maxRequests: 10)
        #expect(policy.verdict(requests: 9, requestLimit: 10, rss: 50 << 20, rssAtBoot: 10 << 20) == .keep)
        guard
            case .recycle(.maxRequests, let why) = policy.verdict(
                requests: 10, requestLimit: 10, rss: 0, rssAtBoot: nil)
        else { Issue.record("not recycled at its request limit"); return }
        #expect(why == "served 10 requests (--worker-max-requests 10, this worker's limit 10)")
        #expect(
            policy.verdict(requests: 0, requestLimit: 10, rss: (100 << 20) + 1, rssAtBoot: 10 << 20)
                == .recycle(.maxRSS, "resident memory 100MiB over --worker-max-rss 100MiB"))
        #expect(
            policy.verdict(requests: 0, requestLimit: 10, rss: 150 << 20, rssAtBoot: 120 << 20)
                == .tooBigAtBoot("resident memory 150MiB over --worker-max-rss 100MiB, already 120MiB when it booted"))
        #expect(recycling().verdict(requests: 1 << 40, requestLimit: nil, rss: 1 << 40, rssAtBoot: 0) == .keep)
    }

    @Test(arguments: [(1, 10.0), (2, 20.0), (3, 40.0), (6, 300.0), (100, 300.0)])
    func retryDelaysDouble(failures: Int, delay: Double) {
        #expect(WorkerRecycling.retryDelay(afterFailures: failures) == delay)
    }

    @Test(arguments: [(UInt64(96 << 20), "96MiB"), (UInt64(1_572_864), "1.5MiB"), (UInt64(0), "0MiB")])
    func mebibytes(bytes: UInt64, text: String) { #expect(WorkerRecycling.mebibytes(bytes) == text) }
}
