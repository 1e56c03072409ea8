import Foundation
import NLModels
import NLTensor
import NLVideo

/// A synthetic action benchmark on which the paper's ablations differ for real reasons
/// (Configs/ablations/README.md says why):
/// - `left_to_right` / `right_to_left`: a square crosses the frame one way or the other. Every
///   frame of one class also occurs in the other; only the ORDER of events tells them apart, to
///   which C2D (per-frame convs, order-free pooling) is blind and I3D's temporal kernels are not.
/// - `colours_match` / `colours_differ`: a square in one third of the frame early in the clip,
///   another in the opposite third late in the clip, of the same colour or not. No frame shows
///   both and each alone is equally likely in both classes: the answer is only in the relation
///   between two distant events in different frames, which a per-frame network cannot form.
/// - `flash_in_sync` / `flash_alternating` (not in the default set): two squares far apart blink
///   together or in turn; frames with both lit give the answer away to a per-frame network.
/// Every clip also has random walkers, flickering decoys and per-pixel noise, so that no single
/// frame gives the class. Deterministic from the seed.
public enum SyntheticAction: String, CaseIterable, Sendable {
    case leftToRight = "left_to_right"
    case rightToLeft = "right_to_left"
    case coloursMatch = "colours_match"
    case coloursDiffer = "colours_differ"
    case flashInSync = "flash_in_sync"
    case flashAlternating = "flash_alternating"

    /// The benchmark's classes: order (the motion pair) and a relation between two events
    /// that never share a frame (the colour pair). The flash pair, whose relation is visible
    /// inside one frame (a per-frame network learns it), is kept for `--classes` only.
    public static let benchmark: [SyntheticAction] = [.leftToRight, .rightToLeft, .coloursMatch, .coloursDiffer]
}

/// The settings of a synthetic benchmark (`nlnet synth`, an ablation plan's `data.synth`): classes, sizes and seed.
public struct SyntheticDataset {
    /// The classes to draw (the four benchmark classes by default).
    public var classes: [SyntheticAction] = SyntheticAction.benchmark
    /// Training clips per class.
    public var train = 40
    /// Validation clips per class.
    public var val = 20
    /// Frames per clip.
    public var frames = 16
    /// Side of the square frames in pixels (even).
    public var size = 64
    /// Frame rate written into the videos, frames per second.
    public var fps = 10
    /// Seed of everything drawn: the same settings and seed give the same pixels.
    public var seed: UInt64 = 0
    /// Distractors per clip: drifting walkers and randomly blinking decoys.
    public var walkers = 3
    /// Decoys per clip: squares that blink at random.
    public var decoys = 2
    /// Colours an event of the colour pair can have (2…4 of `eventPalette`).
    public var colours = 2

    /// The default benchmark: 4 classes, 40 + 20 clips each, 16 frames of 64 × 64 at 10 fps, seed 0.
    public init() {}

    /// What is wrong with these settings, in the words of `nlnet synth`'s options (nil: fine).
    /// Checked before anything is drawn: a zero size divides by zero, negative counts make
    /// empty ranges, and too few frames leave no room for two events and the gap between them.
    public var problem: String? {
        if !(0...100_000).contains(train) || !(0...100_000).contains(val) || train + val < 1 {
            return "--train and --val must be 0…100000 clips per class, at least one in all; got \(train) and \(val)"
        }
        if !(8...1024).contains(frames) { return "--frames must be 8…1024 (the classes need room for two events and a gap), got \(frames)" }
        if !(32...1024).contains(size) || size % 2 != 0 { return "--size must be an even number of pixels, 32…1024, got \(size)" }
        if !(1...240).contains(fps) { return "fps must be 1…240, got \(fps)" }
        if !(0...100).contains(walkers) || !(0...100).contains(decoys) {
            return "--walkers and --decoys must be 0…100, got \(walkers) and \(decoys)"
        }
        if !(2...Self.eventPalette.count).contains(colours) { return "--colours must be 2…\(Self.eventPalette.count), got \(colours)" }
        if classes.isEmpty { return "--classes: at least one class" }
        return nil
    }

    /// Bumped whenever `render` changes what it draws, so stored data sets are not reused.
    public static let generatorVersion = 3

    /// Everything that decides the files `write` produces.
    public var identity: String {
        "synth v\(Self.generatorVersion) classes=\(classes.map(\.rawValue).joined(separator: ",")) train=\(train) val=\(val) "
            + "frames=\(frames) size=\(size) fps=\(fps) seed=\(seed) walkers=\(walkers) decoys=\(decoys) colours=\(colours)"
    }

    /// One clip's frames (frames × size × size × 3 bytes).
    public func render(_ action: SyntheticAction, seed clipSeed: UInt64) -> [UInt8] {
        var rng = RandomSource(seed: clipSeed)
        let s = size, n = frames
        var video = [UInt8](repeating: 0, count: n * s * s * 3)
        func rand(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
        // Walkers and decoys wear warm colours (blue kept low); only the flashing pair is white
        // and blue, so the pair is found by its look and only its timing is in question.
        func color() -> (UInt8, UInt8, UInt8) { (UInt8(rand(90...255)), UInt8(rand(90...255)), UInt8(rand(20...90))) }
        let pair: [(UInt8, UInt8, UInt8)] = [(255, 255, 255), (40, 90, 255)]
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
        for _ in 0..<walkers {
            var (y, x) = (Double(rand(0...(s - 1))), Double(rand(0...(s - 1))))
            let (dy, dx) = (Double(rand(-20...20)) / 10, Double(rand(-20...20)) / 10)
            let c = color()
            for f in 0..<n {
                square(f, Int(y), Int(x), half / 2 + 1, c)
                y = (y + dy).truncatingRemainder(dividingBy: Double(s)); x = (x + dx).truncatingRemainder(dividingBy: Double(s))
                if y < 0 { y += Double(s) }; if x < 0 { x += Double(s) }
            }
        }
        // Decoys: coloured squares that blink at random.
        for _ in 0..<decoys {
            let (y, x, c) = (rand(half...(s - half - 1)), rand(half...(s - half - 1)), color())
            for f in 0..<n where rng.nextUnit() < 0.5 { square(f, y, x, half, c) }
        }
        switch action {
        case .leftToRight, .rightToLeft:
            // Positions c + (f − (n−1)/2)·v (v < 0 right to left), c random: any subset of frames
            // shows the same spread of positions in both classes, so only their order differs.
            let y = rand((s / 4)...(3 * s / 4)), c = color()
            let centre = Double(rand((s / 2 - s / 8)...(s / 2 + s / 8)))
            let speed = Double(s) * 0.6 / Double(max(n - 1, 1)) * (action == .leftToRight ? 1 : -1)
            for f in 0..<n {
                square(f, y, Int((centre + (Double(f) - Double(n - 1) / 2) * speed).rounded()), half + 1, c)
            }
        case .coloursMatch, .coloursDiffer:
            // Event A lit through the first 3/8 of the clip, event B through the last 3/8. The
            // empty middle quarter is longer than any temporal pooling window below res5 (C2D's
            // pool2 pairs sampled frames 2k, 2k+1; with 8 of 16 frames sampled A falls in pairs
            // 0–1 and B in pairs 2–3), so only a temporal conv or a non-local block can bring the
            // two together. Each lasts 3+ sampled frames, so every clip sampling sees both.
            let window = max(1, 3 * n / 8)
            let eventHalf = half * 3 / 2
            // Opposite thirds (either way round), at random rows: 20–40 pixels apart at size 64,
            // 2.5–5 cells of res3. Inset by s/8 so the training crops (up to 12 of 68 pixels
            // off) keep the events in view.
            let xLeft = rand(min(s / 8 + half, s / 3)...(s / 3)), xRight = rand((2 * s / 3)...max(2 * s / 3, 7 * s / 8 - half))
            let (xa, xb) = rand(0...1) == 0 ? (xLeft, xRight) : (xRight, xLeft)
            let (ya, yb) = (rand(eventHalf...(s - eventHalf - 1)), rand(eventHalf...(s - eventHalf - 1)))
            // A's colour uniform over the palette; B the same (match) or uniform over the others
            // (differ): each event's colour, place and time have one distribution in both classes.
            let k = min(max(colours, 2), Self.eventPalette.count)
            let colourA = rand(0...(k - 1))
            let colourB = action == .coloursMatch ? colourA : (colourA + rand(1...(k - 1))) % k
            for f in 0..<window { square(f, ya, xa, eventHalf, Self.eventPalette[colourA]) }
            for f in (n - window)..<n { square(f, yb, xb, eventHalf, Self.eventPalette[colourB]) }
        case .flashInSync, .flashAlternating:
            // A period of n/4…n/2 frames: longer than the networks' temporal pooling windows
            // (pool2 halves time), which would otherwise merge on and off frames before any
            // layer could compare the two squares.
            let period = rand(max(1, n / 4)...max(1, n / 2)), phase = rand(0...(2 * period - 1))
            let (y1, y2) = (rand(half...(s - half - 1)), rand(half...(s - half - 1)))
            // A white and a blue square in opposite thirds of the frame (any rows, either side):
            // lit together or in turn. Telling which needs both squares in view at once.
            let (x1, x2) = (rand(half...(s / 3)), rand((2 * s / 3)...(s - half - 1)))
            let first = rand(0...1)
            for f in 0..<n {
                let on = ((f + phase) / period) % 2 == 0
                if on { square(f, y1, x1, half, pair[first]) }
                if action == .flashInSync ? on : !on { square(f, y2, x2, half, pair[1 - first]) }
            }
        }
        return video
    }

    /// The colours of the two events of the colour pair: cool and saturated (blue channel high),
    /// unlike the warm walkers and decoys, so an event is found by its look and only its
    /// relation to the other event is in question. Far apart in RGB, so H.264 keeps them apart.
    public static let eventPalette: [(UInt8, UInt8, UInt8)] = [(255, 255, 255), (40, 90, 255), (0, 220, 220), (220, 40, 220)]

    /// How `write` lays the clips out.
    public enum Layout: String, Sendable, CaseIterable {
        /// `split/<class>_<i>.mp4` with `train.csv` / `val.csv` (`path,label`)
        case list
        /// `split/<class>/<i>.mp4`: a class-per-folder tree (`nlnet train --data DIR`)
        case folders
    }

    /// Writes the clips under `directory` in `layout`.
    public func write(to directory: String, layout: Layout = .list, progress: ((Int, Int) -> Void)? = nil) throws {
        if let problem { throw ModelError("synthetic data: \(problem)") }
        let root = URL(fileURLWithPath: directory)
        var done = 0
        let total = (train + val) * classes.count
        for (split, count) in [("train", train), ("val", val)] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(split), withIntermediateDirectories: true)
            var lines = ["path,label"]
            for i in 0..<count {
                for (c, action) in classes.enumerated() {
                    let name = layout == .list ? "\(split)/\(action.rawValue)_\(String(format: "%04d", i)).mp4"
                                               : "\(split)/\(action.rawValue)/\(String(format: "%04d", i)).mp4"
                    if layout == .folders {
                        try FileManager.default.createDirectory(at: root.appendingPathComponent("\(split)/\(action.rawValue)"),
                                                                withIntermediateDirectories: true)
                    }
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
            if layout == .list {
                try (lines.joined(separator: "\n") + "\n").write(to: root.appendingPathComponent("\(split).csv"), atomically: true, encoding: .utf8)
            }
        }
    }
}
