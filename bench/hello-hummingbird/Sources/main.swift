// Hummingbird 2 server for bench/run.sh.
//
//   HelloHummingbird PORT THREADS [STATIC_DIR]
//
// GET /       -> "Hello, World!" (text/plain)
// POST /post  -> reads the whole body (up to 16 MiB), answers "Hello, World!"
// GET /<file> -> files of STATIC_DIR (FileMiddleware), when given
//
// One process. THREADS sets the SwiftNIO event loop group (MultiThreadedEventLoopGroup) and the
// NIOThreadPool used for file I/O: the bench passes its worker count. Route handlers run on
// Swift's global concurrency executor (its own pool, one thread per core). No request logging.
import Hummingbird
import Logging
import NIOCore
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count >= 3, let port = Int(arguments[1]), let threads = Int(arguments[2]), threads > 0 else {
    print("usage: HelloHummingbird PORT THREADS [STATIC_DIR]")
    exit(64)
}
let staticDir: String? = arguments.count > 3 ? arguments[3] : nil

let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let fileThreadPool = NIOThreadPool(numberOfThreads: threads)
fileThreadPool.start()

var logger = Logger(label: "hello-hummingbird")
logger.logLevel = .warning

let router = Router()
if let staticDir {
    router.addMiddleware {
        FileMiddleware(staticDir, threadPool: fileThreadPool, logger: logger)
    }
}
let hello = "Hello, World!"
router.get("/") { _, _ in hello }
router.post("/post") { request, context -> String in
    _ = try await request.body.collect(upTo: 16 << 20)
    return hello
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "Hummingbird"),
    eventLoopGroupProvider: .shared(eventLoopGroup),
    logger: logger
)
try await app.runService()
