// swift-tools-version: 6.0
import PackageDescription
import Foundation

// The kernels are written as plain loops that LLVM vectorises; without a target CPU they
// stay SSE2 and run several times slower. `native` suits a source build on the machine
// that runs it; set NLNET_TARGET_CPU (e.g. x86-64-v3) to build for another machine.
let targetCPU = ProcessInfo.processInfo.environment["NLNET_TARGET_CPU"] ?? "native"
#if arch(x86_64)
let fast: [SwiftSetting] = [.unsafeFlags(["-target-cpu", targetCPU])]
let fastC: [CSetting] = [.unsafeFlags(["-O3", "-march=\(targetCPU == "native" ? "native" : targetCPU)"])]
#else
let fast: [SwiftSetting] = [.unsafeFlags([])]
let fastC: [CSetting] = [.unsafeFlags(["-O3"])]
#endif

let package = Package(
    name: "NonLocalNet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "nlnet", targets: ["nlnet"]),
        .library(name: "NLTensor", targets: ["NLTensor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat libavdevice libavcodec libswscale libavutil",
                       providers: [.apt(["libavformat-dev", "libavdevice-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CVideoShim", dependencies: ["CFFmpeg"], cSettings: fastC),
        .target(name: "NLTensor", dependencies: ["COpenBLAS"], swiftSettings: fast),
        .target(name: "NLVideo", dependencies: ["CVideoShim", "NLTensor"], swiftSettings: fast),
        .target(name: "NLModels", dependencies: ["NLTensor", "Yams", "ZIPFoundation"], swiftSettings: fast),
        .target(name: "NLTrain", dependencies: ["NLVideo", "NLModels", "NLTensor"], swiftSettings: fast),
        .executableTarget(
            name: "nlnet",
            dependencies: ["NLTensor", "NLVideo", "NLModels", "NLTrain", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fast),
        // Helpers the test targets share (the ffmpeg CLI as reference and sample maker).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: fast),
        .testTarget(name: "NLTensorTests", dependencies: ["NLTensor"],
                    swiftSettings: fast),
        .testTarget(name: "NLVideoTests", dependencies: ["NLVideo", "NLTensor", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "NLModelsTests", dependencies: ["NLModels", "NLTensor"], swiftSettings: fast),
        .testTarget(name: "NLTrainTests", dependencies: ["NLTrain", "NLModels", "NLVideo", "NLTensor", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "nlnetTests", dependencies: ["nlnet", "NLTensor", "NLModels", "NLVideo", "NLTrain", "TestSupport"], exclude: ["Golden"], swiftSettings: fast),
    ]
)
