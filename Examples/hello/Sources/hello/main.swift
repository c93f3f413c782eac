// `swift build --package-path Examples/hello`, then
// `Examples/hello/.build/debug/hello --bind tcp://127.0.0.1:8080`: every flag of
// `raptor-ev serve` (`hello serve --help`), and this handler instead of static files.
import Raptor

RaptorCommandLine.main { request in
    switch request.path {
    case "/":
        return Response(headers: [.contentType: "text/plain"], body: "Hello from Examples/hello\n")
    case "/echo":
        return Response(body: .bytes(try request.body.readAll()))
    default:
        return Response(status: .notFound, body: "Not Found\n")
    }
}
