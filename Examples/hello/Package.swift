// swift-tools-version: 6.0
import PackageDescription

// A tool that serves its own handler with the whole raptor-ev command line, on the Raptor
// library of this repository, by path. Elsewhere, depend on it by URL instead:
//   .package(url: "https://github.com/OWNER/raptor-ev", branch: "main")
// (README.md, "Using libraptor from another Swift tool").
let package = Package(
    name: "hello",
    // `name:` because a path dependency's identity is its directory's name (`main`, `raptor-ev`,
    // whatever the clone is called), and the product below names the package.
    dependencies: [.package(name: "raptor-ev", path: "../..")],
    targets: [
        .executableTarget(name: "hello", dependencies: [.product(name: "Raptor", package: "raptor-ev")])
    ]
)
