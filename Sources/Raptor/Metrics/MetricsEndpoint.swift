import HTTPTypes

/// The metrics server's application (`--metrics-bind`), run inline on its own event loop
/// by a process the master forks for it (`MetricsServer`):
///
/// - `GET /metrics`: the Prometheus text format (`MetricsExposition`), behind
///   `--metrics-token` when one is set (401 with `WWW-Authenticate: Bearer` otherwise);
/// - `GET /healthz`, `GET /readyz`: 200 or 503 with the reason (`ClusterHealth`), open to
///   a balancer's checks;
/// - HEAD as GET without the body; other methods 405; other paths 404.
///
/// Everything comes from the shared memory, read at each request: no worker is asked.
final class MetricsEndpoint: @unchecked Sendable {
    // @unchecked: the region is only read, through atomics, and only by the loop thread
    // (the server runs with --threads 0).
    private let region: StatsRegion
    private let token: BearerToken?

    init(region: StatsRegion, token: String?) {
        self.region = region
        self.token = token.map(BearerToken.init)
    }

    func respond(to request: Request) -> Response {
        let route = Route(rawValue: request.path)
        guard let route else { return text(.notFound, "Not Found\n") }
        guard request.method == .get || request.method == .head else {
            var response = text(.methodNotAllowed, "Method Not Allowed\n")
            response.headers[.allow] = "GET, HEAD"
            return response
        }
        let reading = ClusterReading(region)
        switch route {
        case .metrics:
            if let token, !token.accepts(authorization: request.headers[.authorization]) {
                var response = text(.unauthorized, "Unauthorized\n")
                response.headers[.wwwAuthenticate] = "Bearer realm=\"metrics\""
                return response
            }
            return Response(
                headers: [.contentType: MetricsExposition.contentType, .cacheControl: "no-store"],
                body: .bytes(MetricsExposition.render(reading, now: WallClock.seconds())))
        case .healthz:
            let health = ClusterHealth.check(reading)
            return health.unhealthy.map { text(.serviceUnavailable, "unhealthy: \($0)\n") } ?? text(.ok, "ok\n")
        case .readyz:
            let health = ClusterHealth.check(reading)
            return health.unready.map { text(.serviceUnavailable, "not ready: \($0)\n") } ?? text(.ok, "ready\n")
        }
    }

    private enum Route: String {
        case metrics = "/metrics"
        case healthz = "/healthz"
        case readyz = "/readyz"
    }

    private func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .string(body))
    }
}
