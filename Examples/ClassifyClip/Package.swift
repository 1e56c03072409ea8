// swift-tools-version: 6.0
// An app that depends on NonLocalNet by URL and version, as any package would. NONLOCALNET_URL
// names the repository (a clone with a version tag is enough: `make example` tags one); without
// it, the repository this folder is in, which then needs a tag ≥ 1.0.0.
import Foundation
import PackageDescription

let enclosingRepository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL.absoluteString
let url = ProcessInfo.processInfo.environment["NONLOCALNET_URL"] ?? enclosingRepository

let package = Package(
    name: "ClassifyClip",
    platforms: [.macOS(.v14)],
    dependencies: [.package(url: url, from: "1.0.0")],
    targets: [
        .executableTarget(name: "ClassifyClip", dependencies: [.product(name: "NonLocalNet", package: "NonLocalNet")]),
    ]
)
