// swift-tools-version: 6.0
import PackageDescription

// No unsafe flags: a package that depends on this one by version may not use them. The kernels
// that need wide vectors are C (CKernels), compiled for AVX-512, AVX2 and the baseline with
// per-function target attributes and chosen at run time; the rest is plain Swift that needs no
// particular CPU. `make NATIVE=1` adds -march=native for a build on the machine that runs it.
let package = Package(
    name: "NonLocalNet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "nlnet", targets: ["nlnet"]),
        // Everything an app needs (video reading, models, weights files, the classifier,
        // training), re-exported by one module.
        .library(name: "NonLocalNet", targets: ["NonLocalNet"]),
        // The layers alone, for a dependency on less: tensors and kernels; video reading;
        // models and weights files; datasets, training and the classifier.
        .library(name: "NLTensor", targets: ["NLTensor"]),
        .library(name: "NLVideo", targets: ["NLVideo"]),
        .library(name: "NLModels", targets: ["NLModels"]),
        .library(name: "NLTrain", targets: ["NLTrain"]),
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
        .target(name: "CVideoShim", dependencies: ["CFFmpeg"]),
        .target(name: "CKernels"),
        .target(name: "NLTensor", dependencies: ["COpenBLAS", "CKernels"]),
        .target(name: "NLVideo", dependencies: ["CVideoShim", "NLTensor"]),
        .target(name: "NLModels", dependencies: ["NLTensor", "Yams", "ZIPFoundation"]),
        .target(name: "NLTrain", dependencies: ["NLVideo", "NLModels", "NLTensor"]),
        .target(name: "NonLocalNet", dependencies: ["NLTensor", "NLVideo", "NLModels", "NLTrain"]),
        .executableTarget(
            name: "nlnet",
            dependencies: ["NLTensor", "NLVideo", "NLModels", "NLTrain", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Helpers the test targets share (the ffmpeg CLI as reference and sample maker).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NLTensorTests", dependencies: ["NLTensor"]),
        .testTarget(name: "NLVideoTests", dependencies: ["NLVideo", "NLTensor", "TestSupport"]),
        .testTarget(name: "NLModelsTests", dependencies: ["NLModels", "NLTensor"]),
        .testTarget(name: "NLTrainTests", dependencies: ["NLTrain", "NLModels", "NLVideo", "NLTensor", "TestSupport"]),
        .testTarget(name: "nlnetTests", dependencies: ["nlnet", "NLTensor", "NLModels", "NLVideo", "NLTrain", "TestSupport"], exclude: ["Golden"]),
    ]
)
