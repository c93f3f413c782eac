// swift-tools-version: 6.0
// Hummingbird 2 peer for bench/run.sh: hello world, a POST that reads its body, static files.
// Built by the harness (swift build -c release --package-path bench/hello-hummingbird); not part of
// the raptor-ev package, so `make test` never builds it.
import PackageDescription

let package = Package(
    name: "hello-hummingbird",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0")
    ],
    targets: [
        .executableTarget(
            name: "HelloHummingbird",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources"
        )
    ]
)
