import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One sample of a Prometheus text exposition: `name{label="value",...} 12.5`.
struct MetricSample: CustomStringConvertible {
    var name: String
    var labels: [String: String]
    var value: Double

    var description: String {
        "\(name){\(labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ","))} \(value)"
    }
}

/// A parsed `/metrics` document: its samples and its `# TYPE` lines.
struct Exposition {
    var samples: [MetricSample] = []
    var types: [String: String] = [:]
    let text: String

    /// Parses the text format (0.0.4); a line it cannot read fails the test.
    init(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        self.text = text
        for raw in text.split(separator: "\n") {
            if raw.hasPrefix("# TYPE ") {
                let parts = raw.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                continue
            }
            if raw.hasPrefix("#") { continue }
            guard let sample = Self.sample(String(raw)) else {
                Issue.record("unreadable exposition line: \(raw)", sourceLocation: sourceLocation)
                continue
            }
            samples.append(sample)
        }
    }

    private static func sample(_ line: String) -> MetricSample? {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            return nil
        }
        let series = line[..<space]
        guard let open = series.firstIndex(of: "{") else {
            return MetricSample(name: String(series), labels: [:], value: value)
        }
        guard series.hasSuffix("}") else { return nil }
        var labels: [String: String] = [:]
        var rest = series[series.index(after: open)..<series.index(before: series.endIndex)]
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)] == "\"" else { return nil }
            let key = String(rest[..<equals])
            var index = rest.index(equals, offsetBy: 2)
            var value = ""
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\" { index = rest.index(after: index) }
                value.append(rest[index])
                index = rest.index(after: index)
            }
            labels[key] = value
            rest = rest[rest.index(after: index)...]
            if rest.hasPrefix(",") { rest = rest.dropFirst() }
        }
        return MetricSample(name: String(series[..<open]), labels: labels, value: value)
    }

    /// The samples of `name` whose labels include `labels`.
    func samples(_ name: String, _ labels: [String: String] = [:]) -> [MetricSample] {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
    }

    /// The one sample of `name` with exactly these labels; nil when there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum of `name` over the samples whose labels include `labels`.
    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples(name, labels).reduce(0) { $0 + $1.value }
    }
}

extension ClusterSuite {
    /// The metrics server's port, from its "metrics listening" log line.
    func metricsPort(_ server: ServerProcess, sourceLocation: SourceLocation = #_sourceLocation) -> UInt16 {
        let event = waitForEvents(server, "metrics listening", sourceLocation: sourceLocation).first
        let url = event?["url"] as? String ?? ""
        guard let colon = url.lastIndex(of: ":"), let port = UInt16(url[url.index(after: colon)...]) else {
            Issue.record("no metrics port in \(String(describing: event))", sourceLocation: sourceLocation)
            return 0
        }
        return port
    }

    /// One request to the metrics server (a new connection); nil when it failed.
    func metricsRequest(
        _ port: UInt16, _ target: String, method: String = "GET", fields: String = "", timeout: Double = 10
    ) -> HTTPResponseMessage? {
        guard let client = try? RawClient(port: port, timeout: timeout) else { return nil }
        defer { client.close() }
        let request = "\(method) \(target) HTTP/1.1\r\nHost: metrics\r\n\(fields)\r\n"
        guard (try? client.send(request)) != nil else { return nil }
        return try? client.readResponse(to: method)
    }

    /// `GET /metrics`, parsed; fails the test unless the answer is 200.
    func scrape(
        _ port: UInt16, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Exposition {
        let fields = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        guard let response = metricsRequest(port, "/metrics", fields: fields) else {
            Issue.record("no answer from /metrics", sourceLocation: sourceLocation)
            return Exposition("")
        }
        #expect(response.status == 200, "\(response.bodyText)", sourceLocation: sourceLocation)
        return Exposition(response.bodyText, sourceLocation: sourceLocation)
    }

    /// Waits until a scrape satisfies `condition`; returns the last one.
    @discardableResult
    func waitForMetrics(
        _ port: UInt16, _ what: String, timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: (Exposition) -> Bool
    ) -> Exposition {
        var last = Exposition("")
        let held = waitUntil(timeout: timeout, interval: 0.1) {
            guard let response = metricsRequest(port, "/metrics"), response.status == 200 else { return false }
            last = Exposition(response.bodyText)
            return condition(last)
        }
        if !held {
            Issue.record(
                "metrics never showed \(what) within \(timeout) s:\n\(last.text)", sourceLocation: sourceLocation)
        }
        return last
    }
}
