import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain

/// The ranges every verb applies to the same options, so a number means one thing everywhere:
/// they keep every shape and FLOP count of the network well inside Int (a clip of 10^12
/// frames overflowed the FLOP counter), every stage at least one pixel wide, and view counts
/// to what a run can finish.
enum OptionRange {
    static func frames(_ frames: Int?) throws {
        if let frames, !(1...10_000).contains(frames) { throw ValidationError("--frames must be 1…10000, got \(frames)") }
    }

    static func size(_ size: Int?) throws {
        if let size, !(32...4096).contains(size) { throw ValidationError("--size must be 32…4096 pixels (the network downsamples 32×), got \(size)") }
    }

    /// Frames × pixels of one clip, both in range: their product keeps the attention blocks'
    /// query × key counts inside Int too (10000 × 4096² overflowed the layer summary).
    static func clip(frames: Int?, size: Int?) throws {
        try self.frames(frames)
        try self.size(size)
        guard let frames, let size else { return }
        if frames * size * size > 1 << 30 {
            throw ValidationError("--frames \(frames) × --size \(size)² is \(frames * size * size / 1_000_000) million pixels per clip; "
                                  + "at most \((1 << 30) / 1_000_000) million (e.g. 64 × 4096², 10000 × 320²)")
        }
    }

    static func views(clips: Int, crops: Int) throws {
        guard (1...1000).contains(clips), (1...100).contains(crops) else {
            throw ValidationError("--clips must be 1…1000 and --crops 1…100, got \(clips) and \(crops)")
        }
    }
}
