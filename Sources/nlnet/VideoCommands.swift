import ArgumentParser
import Foundation
import NLTensor
import NLVideo

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the decoder finds in video files.")

    @Argument(help: "Video files, frames folders, '-' (standard input) or URLs.")
    var files: [String]

    @OptionGroup var input: VideoInputOptions

    @Flag(help: "One JSON object per file, one per line.")
    var json = false

    func run() throws {
        var failed = 0
        for file in files {
            do {
                let info = try VideoReader(path: file, options: input.open).info
                if json { print(try jsonLine(ProbeRecord(info: info))) } else { printInfo(info) }
            } catch {
                failed += 1
                if json { print(try jsonLine(["path": file, "error": "\(error)"])) }
                else { FileHandle.standardError.write(Data("nlnet probe: \(error)\n".utf8)) }
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }

    func printInfo(_ i: VideoInfo) {
        let d = i.displaySize
        print("""
        \(i.path)
          container  \(i.container)
          video      \(i.codec), \(i.pixelFormat) (\(i.bitDepth)-bit, \(i.fullRange ? "full" : "limited") range), \
        stream \(i.streamIndex) of \(i.videoStreams) video stream(s)
          size       \(i.width)×\(i.height), sample aspect \(i.sampleAspectRatio[0]):\(i.sampleAspectRatio[1]), \
        rotation \(i.rotation)°, shown as \(d.width)×\(d.height)
          frames     \(i.frameCount) counted\(i.headerFrameCount > 0 && i.headerFrameCount != i.frameCount ? " (header says \(i.headerFrameCount))" : ""), \
        \(i.keyframeCount) keyframes\
        \(i.numberedInDecoderOrder ? "; numbered in decoder order (the timestamps cannot identify frames)" : "")
          timing     \(String(format: "%.3f", i.frameRate)) fps, \(String(format: "%.3f", i.duration)) s, starts at \(String(format: "%.3f", i.startTime)) s
        """)
    }
}

/// probe --json: everything the table shows, the display size included (computed, so the
/// synthesised encoding of VideoInfo leaves it out).
struct ProbeRecord: Encodable {
    let info: VideoInfo
    enum Keys: String, CodingKey { case displayWidth, displayHeight }

    func encode(to encoder: Encoder) throws {
        try info.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(info.displaySize.width, forKey: .displayWidth)
        try c.encode(info.displaySize.height, forKey: .displayHeight)
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write chosen frames as raw RGB24 (after rotation and scaling, before normalisation).",
        discussion: "Compare with: ffmpeg -i FILE -vf scale=W:H:flags=bilinear -pix_fmt rgb24 -f rawvideo out.rgb")

    @Argument(help: "The video: a file, a frames folder, '-' (standard input) or a URL.")
    var file: String

    @OptionGroup var input: VideoInputOptions

    @Option(help: "Comma-separated frame indices (default: all frames).")
    var frames: String?

    @Option(help: "Output size WxH (default: the display size).")
    var size: String?

    @Option(name: .shortAndLong, help: "Output file ('-': standard output; devices and links are written in place).")
    var output: String

    func run() throws {
        let reader = try VideoReader(path: file, options: input.open)
        let indices: [Int]
        if let frames {
            let parsed = frames.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parsed.allSatisfy({ $0 != nil }) else { throw ValidationError("--frames must be comma-separated integers, got '\(frames)'") }
            indices = parsed.map { $0! }
        } else {
            indices = Array(0..<reader.info.frameCount)
        }
        let display = reader.info.displaySize
        var (w, h) = (display.width, display.height)
        if let size {
            let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...16_384).contains($0) }) else {
                throw ValidationError("--size must be WxH with each side 1…16384, got '\(size)'")
            }
            (w, h) = (parts[0], parts[1])
        }
        // The frames are decoded into one buffer: refuse what cannot be held rather than trap
        // on the allocation (indices.count ≤ the video's frames, each side ≤ 16384: no overflow).
        guard indices.count * w * h * 3 <= 16 << 30 else {
            throw ValidationError("\(indices.count) frame(s) of \(w)×\(h) RGB24 would take \(indices.count * w * h * 3 >> 30) GiB; "
                                  + "ask for fewer frames or a smaller --size")
        }
        let rgb = try reader.frames(indices, width: w, height: h)
        try OutputFile.write(Data(rgb.bytes), to: output)
        FileHandle.standardError.write(Data("\(output == "-" ? "standard output" : output): \(indices.count) frame(s) of \(w)×\(h) RGB24\n".utf8))
    }
}

func jsonLine<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
