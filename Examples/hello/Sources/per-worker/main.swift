// An application built in each worker process: `swift build --package-path Examples/hello`,
// then `Examples/hello/.build/debug/per-worker --bind tcp://127.0.0.1:8080`.
//
// The factory runs after fork, in every worker (and in every worker that replaces one), so
// each worker has its own pool: nothing is shared across processes, and no Task or
// connection exists in the master. The pool runs as a service, shut down once the worker
// has drained its requests.
import HTTPTypes
import Raptor

struct NotFound: HTTPResponseError {
    var status: HTTPResponse.Status { .notFound }
}

RaptorCommandLine.main(perWorker: { worker in
    let pool = try await ConnectionPool.connect(size: 4, logger: worker.logger)
    worker.addService(pool)
    return .sync { request in
        switch request.path {
        case "/":
            let answer = try pool.withConnection { $0.query("Hello from worker \(worker.index)") }
            return Response(headers: [.contentType: "text/plain"], body: .string(answer + "\n"))
        default:
            throw NotFound()
        }
    }
})
