import Foundation
import NLTrain
import NLVideo
import Testing

@Suite("Synthetic dataset")
struct SyntheticDatasetTests {
    func generate(_ seed: UInt64, _ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-synth-\(getpid())-\(name)").path
        var data = SyntheticDataset()
        data.train = 2; data.val = 1; data.frames = 12; data.size = 48; data.seed = seed
        try data.write(to: dir)
        return dir
    }

    @Test func sameSeedSameFilesOtherSeedOtherFiles() throws {
        let a = try generate(3, "a"), b = try generate(3, "b"), c = try generate(4, "c")
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        let list = try String(contentsOfFile: a + "/train.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(list.count == 2 * SyntheticAction.allCases.count)
        for line in list {
            let path = String(line.split(separator: ",")[0])
            let fa = try Data(contentsOf: URL(fileURLWithPath: a + "/" + path))
            #expect(fa == (try Data(contentsOf: URL(fileURLWithPath: b + "/" + path))), "\(path) differs between runs with one seed")
            #expect(fa != (try Data(contentsOf: URL(fileURLWithPath: c + "/" + path))), "\(path) is the same under another seed")
            let info = try VideoReader(path: a + "/" + path).info
            #expect(info.frameCount == 12 && info.width == 48 && info.height == 48)
        }
        #expect(try VideoList(path: a + "/val.csv").classes == SyntheticAction.allCases.map(\.rawValue).sorted())
    }
}
