import Foundation
import NLTensor
import NLVideo

/// A synthetic action benchmark on which the paper's ablations differ for real reasons
/// (Configs/ablations/README.md says why):
/// - `left_to_right` / `right_to_left`: a square crosses the frame one way or the other. Every
///   frame of one class also occurs in the other; only the ORDER of events tells them apart, to
///   which C2D (per-frame convs, order-free pooling) is blind and I3D's temporal kernels are not.
/// - `flash_in_sync` / `flash_alternating`: two squares far apart (opposite edges) blink with
///   the same period, together or in turn. The answer is a relation between distant positions.
/// Every clip also has random walkers, flickering decoys and per-pixel noise, so that no single
/// frame gives the class. Deterministic from the seed.
public enum SyntheticAction: String, CaseIterable, Sendable {
    case leftToRight = "left_to_right"
    case rightToLeft = "right_to_left"
    case flashInSync = "flash_in_sync"
    case flashAlternating = "flash_alternating"
}

public struct SyntheticDataset {
    public var classes: [SyntheticAction] = SyntheticAction.allCases
    public var train = 40
    public var val = 20
    public var frames = 16
    public var size = 64
    public var fps = 10
    public var seed: UInt64 = 0

    public init() {}

    /// One clip's frames (frames × size × size × 3 bytes).
    public func render(_ action: SyntheticAction, seed clipSeed: UInt64) -> [UInt8] {
        var rng = RandomSource(seed: clipSeed)
        let s = size, n = frames
        var video = [UInt8](repeating: 0, count: n * s * s * 3)
        func rand(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
        func color() -> (UInt8, UInt8, UInt8) { (UInt8(rand(90...255)), UInt8(rand(90...255)), UInt8(rand(90...255))) }
        func square(_ f: Int, _ cy: Int, _ cx: Int, _ half: Int, _ c: (UInt8, UInt8, UInt8)) {
            for y in max(0, cy - half)..<min(s, cy + half) { for x in max(0, cx - half)..<min(s, cx + half) {
                let i = ((f * s + y) * s + x) * 3
                (video[i], video[i + 1], video[i + 2]) = c
            } }
        }
        // Noise background.
        let base = UInt8(rand(30...70))
        for i in 0..<video.count { video[i] = base &+ UInt8(truncatingIfNeeded: rand(0...24)) }
        // Walkers: small squares drifting in random directions (present in every class).
        let half = max(2, s / 16)
        for _ in 0..<3 {
            var (y, x) = (Double(rand(0...(s - 1))), Double(rand(0...(s - 1))))
            let (dy, dx) = (Double(rand(-20...20)) / 10, Double(rand(-20...20)) / 10)
            let c = color()
            for f in 0..<n {
                square(f, Int(y), Int(x), half / 2 + 1, c)
                y = (y + dy).truncatingRemainder(dividingBy: Double(s)); x = (x + dx).truncatingRemainder(dividingBy: Double(s))
                if y < 0 { y += Double(s) }; if x < 0 { x += Double(s) }
            }
        }
        // Decoys: squares that blink at random.
        for _ in 0..<2 {
            let (y, x, c) = (rand(half...(s - half - 1)), rand(half...(s - half - 1)), color())
            for f in 0..<n where rng.nextUnit() < 0.5 { square(f, y, x, half, c) }
        }
        switch action {
        case .leftToRight, .rightToLeft:
            let y = rand((s / 4)...(3 * s / 4)), c = color()
            for f in 0..<n {
                let progress = Double(f) / Double(max(n - 1, 1))
                let x = Int(Double(half) + progress * Double(s - 2 * half))
                square(f, y, action == .leftToRight ? x : s - 1 - x, half + 1, c)
            }
        case .flashInSync, .flashAlternating:
            let period = rand(2...4), phase = rand(0...(2 * period - 1))
            let (y1, y2) = (rand(half...(s - half - 1)), rand(half...(s - half - 1)))
            let (c1, c2) = (color(), color())
            for f in 0..<n {
                let on = ((f + phase) / period) % 2 == 0
                if on { square(f, y1, half + 1, half, c1) }
                if action == .flashInSync ? on : !on { square(f, y2, s - half - 2, half, c2) }
            }
        }
        return video
    }

    /// Writes `split/<class>_<i>.mp4` and `train.csv` / `val.csv` (`path,label`) under `directory`.
    public func write(to directory: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let root = URL(fileURLWithPath: directory)
        var done = 0
        let total = (train + val) * classes.count
        for (split, count) in [("train", train), ("val", val)] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(split), withIntermediateDirectories: true)
            var lines = ["path,label"]
            for i in 0..<count {
                for (c, action) in classes.enumerated() {
                    let name = "\(split)/\(action.rawValue)_\(String(format: "%04d", i)).mp4"
                    let clipSeed = Trainer.mix(seed, split == "train" ? 0 : 1, UInt64(i), UInt64(c))
                    let frames = render(action, seed: clipSeed)
                    let writer = try VideoWriter(path: root.appendingPathComponent(name).path, width: size, height: size, fps: fps)
                    let bytes = size * size * 3
                    for f in 0..<self.frames { try writer.append(Array(frames[(f * bytes)..<((f + 1) * bytes)])) }
                    try writer.finish()
                    lines.append("\(name),\(action.rawValue)")
                    done += 1
                    progress?(done, total)
                }
            }
            try (lines.joined(separator: "\n") + "\n").write(to: root.appendingPathComponent("\(split).csv"), atomically: true, encoding: .utf8)
        }
    }
}
