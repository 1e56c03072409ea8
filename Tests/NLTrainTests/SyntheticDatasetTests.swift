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
        #expect(list.count == 2 * SyntheticAction.benchmark.count)
        for line in list {
            let path = String(line.split(separator: ",")[0])
            let fa = try Data(contentsOf: URL(fileURLWithPath: a + "/" + path))
            #expect(fa == (try Data(contentsOf: URL(fileURLWithPath: b + "/" + path))), "\(path) differs between runs with one seed")
            #expect(fa != (try Data(contentsOf: URL(fileURLWithPath: c + "/" + path))), "\(path) is the same under another seed")
            let info = try VideoReader(path: a + "/" + path).info
            #expect(info.frameCount == 12 && info.width == 48 && info.height == 48)
        }
        #expect(try VideoList(path: a + "/val.csv").classes == SyntheticAction.benchmark.map(\.rawValue).sorted())
    }

    /// The colour pair as the benchmark promises it (Configs/ablations/README.md): event A only
    /// in the first 3/8 of the frames and on one side, event B only in the last 3/8 and on the
    /// other side, never both in one frame; colours equal in `colours_match`, different in
    /// `colours_differ`; and each event's colour and side equally likely in both classes.
    @Test func colourEventsNeverShareAFrameAndAloneSayNothing() {
        var data = SyntheticDataset()
        data.frames = 16; data.size = 64
        let (n, s) = (16, 64), window = 3 * n / 8
        // counts[class][event][colour is white][event on the left]
        var counts = [[[[Int]]]](repeating: [[[Int]]](repeating: [[0, 0], [0, 0]], count: 2), count: 2)
        for (c, action) in [SyntheticAction.coloursMatch, .coloursDiffer].enumerated() {
            for clip in 0..<200 {
                let video = data.render(action, seed: UInt64(1000 * c + clip))
                // Event pixels: blue channel ≥ 200 (walkers, decoys and noise stay below 100).
                var seen: [(frame: Int, meanX: Double, white: Bool)] = []
                for f in 0..<n {
                    var xs: [Int] = [], red = 0
                    for y in 0..<s { for x in 0..<s {
                        let i = ((f * s + y) * s + x) * 3
                        if video[i + 2] >= 200 { xs.append(x); red += Int(video[i]) }
                    } }
                    if xs.isEmpty { continue }
                    // One event per frame: all its pixels on one side of the middle.
                    #expect(xs.allSatisfy { $0 < s / 2 } || xs.allSatisfy { $0 >= s / 2 }, "\(action) clip \(clip) frame \(f): pixels on both sides")
                    seen.append((f, Double(xs.reduce(0, +)) / Double(xs.count), red / xs.count > 200))
                }
                let a = seen.filter { $0.frame < window }, b = seen.filter { $0.frame >= n - window }
                #expect(a.count == window && b.count == window && seen.count == 2 * window, "\(action) clip \(clip): event frames \(seen.map(\.frame))")
                guard let ea = a.first, let eb = b.first else { continue }
                #expect((ea.meanX < Double(s / 2)) != (eb.meanX < Double(s / 2)), "\(action) clip \(clip): both events on one side")
                #expect((ea.white == eb.white) == (action == .coloursMatch), "\(action) clip \(clip): colours \(ea.white) \(eb.white)")
                counts[c][0][ea.white ? 1 : 0][ea.meanX < Double(s / 2) ? 1 : 0] += 1
                counts[c][1][eb.white ? 1 : 0][eb.meanX < Double(s / 2) ? 1 : 0] += 1
            }
        }
        // Each (event, colour, side) cell: 50 expected of 200 per class; the two classes within
        // ±25 of each other (≈ 3.5 standard deviations of the difference of two binomials).
        for event in 0..<2 { for white in 0..<2 { for left in 0..<2 {
            let (m, d) = (counts[0][event][white][left], counts[1][event][white][left])
            #expect(abs(m - d) <= 25, "event \(event) white \(white) left \(left): \(m) in match vs \(d) in differ")
        } } }
    }
}
