// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "raptor-ev",
    products: [
        .library(name: "Raptor", targets: ["Raptor"]),
        // The same library as libraptor.so, for tools built outside SwiftPM (`make install`,
        // packaging/install.sh). SwiftPM packages keep using `Raptor`, linked statically.
        .library(name: "raptor", type: .dynamic, targets: ["Raptor"]),
        .executable(name: "raptor-ev", targets: ["raptor-ev"]),
        // For an application's tests: requests through the real engine without a port, and
        // a real server on port 0 in the test's process.
        .library(name: "RaptorTesting", targets: ["RaptorTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        // The Prometheus text format of the metrics server (vendor-notes.md).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The C shim: the only code that includes ev.h, http_parser.h, OpenSSL's and nghttp2's
        // headers.
        .target(
            name: "CRaptor",
            path: "CShims/CRaptor",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [
                .linkedLibrary("ev"), .linkedLibrary("http_parser"), .linkedLibrary("ssl"),
                .linkedLibrary("crypto"), .linkedLibrary("nghttp2"),
            ]
        ),
        .target(
            name: "Raptor",
            dependencies: [
                "CRaptor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // `Request` and its views are ~Escapable: a handler cannot keep them past its
            // return (they point into the connection's reused buffer). Declaring their
            // lifetimes needs this feature; code that uses them does not.
            swiftSettings: [.enableExperimentalFeature("Lifetimes")]
        ),
        .executableTarget(name: "raptor-ev", dependencies: ["Raptor"]),
        .target(
            name: "RaptorTesting",
            dependencies: [
                "Raptor", .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // A small application on the public API: what the static default cannot show
        // (echo, slow, throwing, streaming handlers) for the tests and the benchmarks.
        .executableTarget(
            name: "raptor-testapp",
            dependencies: ["Raptor", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // A blocking TLS client for the integration tests (OpenSSL stays behind CShims).
        .target(
            name: "CTestTLS",
            path: "CShims/CTestTLS",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .testTarget(name: "RaptorTests", dependencies: ["Raptor", "CRaptor", "RaptorTesting"]),
        .testTarget(name: "IntegrationTests", dependencies: ["CTestTLS"]),
        .testTarget(name: "RaptorTestingTests", dependencies: ["RaptorTesting", "Raptor"]),
    ]
)
