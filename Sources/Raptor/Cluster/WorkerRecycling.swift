/// `--worker-max-rss` and `--worker-max-requests`: when a worker should be replaced. The
/// master replaces it as a phased restart would (`Master.replace`: the new worker boots
/// first, then the old one drains), one worker at a time, and counts the restart by
/// reason (`max_rss`, `max_requests`).
struct WorkerRecycling {
    let maxRSS: UInt64?
    let maxRequests: Int?

    /// The jitter on the request limit: up to this fraction more, so workers started
    /// together do not all restart together.
    static let requestJitter = 0.1
    /// After a recycle whose new worker died before it booted, the next try waits this
    /// long, doubled at each further failure up to `maximumRetryDelay`.
    static let firstRetryDelay = 10.0
    static let maximumRetryDelay = 300.0

    init(configuration: Configuration) {
        maxRSS = configuration.workerMaxRSS
        maxRequests = configuration.workerMaxRequests
    }

    var isEnabled: Bool { maxRSS != nil || maxRequests != nil }

    /// A new worker's own request limit: `maxRequests` plus a random 0-10 %.
    func requestLimit(using generator: inout some RandomNumberGenerator) -> UInt64? {
        guard let maxRequests else { return nil }
        let jitter = UInt64((Double(maxRequests) * Self.requestJitter).rounded(.down))
        return UInt64(maxRequests) + UInt64.random(in: 0...jitter, using: &generator)
    }

    enum Verdict: Equatable {
        case keep
        /// Replace it: the reason, and what to log.
        case recycle(RestartReason, String)
        /// Over --worker-max-rss already when it booted: replacing it would only start
        /// another worker just as big, again and again. Kept, and said once.
        case tooBigAtBoot(String)
    }

    /// What to do with a booted worker that served `requests` (of its `requestLimit`) and
    /// holds `rss` bytes (`rssAtBoot` when it booted).
    func verdict(requests: UInt64, requestLimit: UInt64?, rss: UInt64, rssAtBoot: UInt64?) -> Verdict {
        if let requestLimit, requests >= requestLimit {
            return .recycle(
                .maxRequests,
                "served \(requests) requests (--worker-max-requests \(maxRequests ?? 0), this worker's limit \(requestLimit))"
            )
        }
        if let maxRSS, rss > maxRSS {
            let text = "resident memory \(Self.mebibytes(rss)) over --worker-max-rss \(Self.mebibytes(maxRSS))"
            if let rssAtBoot, rssAtBoot > maxRSS {
                return .tooBigAtBoot(text + ", already \(Self.mebibytes(rssAtBoot)) when it booted")
            }
            return .recycle(.maxRSS, text)
        }
        return .keep
    }

    /// The delay before the next recycle of a slot after `failures` failed ones in a row.
    static func retryDelay(afterFailures failures: Int) -> Double {
        min(maximumRetryDelay, firstRetryDelay * Double(1 << min(failures - 1, 16)))
    }

    static func mebibytes(_ bytes: UInt64) -> String {
        let tenths = (Double(bytes) / 1_048_576 * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10))MiB" : "\(tenths / 10)MiB"
    }
}
