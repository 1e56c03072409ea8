// Classifies a video with a NonLocalNet model file: the official protocol's 10 clips × 3 crops,
// softmax mean, top 3.   usage: ClassifyClip MODEL.safetensors VIDEO
import Foundation
import NonLocalNet

Runtime.configure()   // the fast OpenBLAS kernel and allocator settings; before any tensor work
let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: ClassifyClip MODEL.safetensors VIDEO\n".utf8))
    exit(64)
}
do {
    let file = try ModelFile.load(path: arguments[1])          // network, class names, config
    let classifier = VideoClassifier(file: file)              // the test views the config asks for
    for ranked in try classifier.classify(path: arguments[2], top: 3) {
        print(ranked.rank, ranked.label, String(format: "%.3f", ranked.probability))
    }
} catch {
    FileHandle.standardError.write(Data("ClassifyClip: \(error)\n".utf8))
    exit(1)
}
