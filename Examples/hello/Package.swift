// swift-tools-version: 6.0
import PackageDescription

// Tools that serve their own handler with the whole raptor-ev command line, on the Raptor
// library of this repository, by path. Elsewhere, depend on it by URL instead:
//   .package(url: "https://github.com/OWNER/raptor-ev", branch: "main")
// (README.md, "Using libraptor from another Swift tool").
//
// hello: one handler, made before the workers fork.
// per-worker: an application built in each worker, with a pool run as a service.
// async: the same with an async handler (each request a Task), an async pool, a streamed
// body and an upload read in chunks.
let package = Package(
    name: "hello",
    // `name:` because a path dependency's identity is its directory's name (`main`, `raptor-ev`,
    // whatever the clone is called), and the product below names the package.
    dependencies: [
        .package(name: "raptor-ev", path: "../.."),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(name: "hello", dependencies: [.product(name: "Raptor", package: "raptor-ev")]),
        .executableTarget(
            name: "per-worker",
            dependencies: [
                .product(name: "Raptor", package: "raptor-ev"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "async",
            dependencies: [
                .product(name: "Raptor", package: "raptor-ev"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
    ]
)
