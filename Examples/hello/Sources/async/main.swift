// An async application built in each worker process: `swift build --package-path
// Examples/hello`, then `Examples/hello/.build/debug/async --bind tcp://127.0.0.1:8080`.
//
// Each request runs as a Task in its worker: a handler awaiting the pool (or any async
// client) holds no thread, so a worker serves up to --max-inflight requests at once.
import HTTPTypes
import Raptor

struct NotFound: HTTPResponseError {
    var status: HTTPResponse.Status { .notFound }
}

RaptorCommandLine.main(perWorker: { worker in
    let pool = try await AsyncConnectionPool.connect(size: 4, logger: worker.logger)
    worker.addService(pool)
    let index = worker.index
    return .async { request in
        switch request.path {
        case "/":
            let answer = try await pool.withConnection { try await $0.query("Hello from async worker \(index)") }
            return Response(headers: [.contentType: "text/plain"], body: .string(answer + "\n"))
        case "/count":
            // An upload read as it is handed over, a chunk at a time.
            var bytes = 0
            for try await chunk in try request.body.chunks() { bytes += chunk.count }
            return Response(headers: [.contentType: "text/plain"], body: .string("\(bytes) bytes\n"))
        case "/ticks":
            // Each write waits for a slow client through the event loop, holding no thread.
            let count = request.queryItems.first { $0.name == "n" }.flatMap { Int($0.value) } ?? 3
            return Response(
                headers: [.contentType: "text/plain"],
                body: .asyncStream { writer in
                    for tick in 1...max(1, count) {
                        try await writer.write("tick \(tick)\n")
                        try await Task.sleep(for: .milliseconds(10))
                    }
                })
        default:
            throw NotFound()
        }
    }
})
