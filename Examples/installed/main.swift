// A tool on the installed libraptor.so, compiled with swiftc alone (no SwiftPM): see
// README.md, "Using libraptor from another Swift tool". With PREFIX=/usr/local:
//
//   swiftc -O main.swift -o hello \
//       -I /usr/local/lib/swift/raptor -I /usr/local/include/raptor \
//       -L /usr/local/lib -lraptor -Xlinker -rpath -Xlinker /usr/local/lib
//   ./hello --bind tcp://127.0.0.1:8080
//
// It has the whole raptor-ev command line (`./hello serve --help`) and its own handler.
import Raptor

RaptorCommandLine.main { request in
    switch request.path {
    case "/":
        return Response(headers: [.contentType: "text/plain"], body: "Hello from libraptor\n")
    case "/version":
        return Response(headers: [.contentType: "text/plain"], body: .string(RaptorVersion.description + "\n"))
    default:
        return Response(status: .notFound, body: "Not Found\n")
    }
}
