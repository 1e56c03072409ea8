import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLVideo

/// Decoding speed against the ffmpeg CLI doing the same work, in the same run.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode + resize to short side 256 + normalise, vs `ffmpeg -vf scale=-2:256:flags=bilinear -pix_fmt rgb24 -f null -`.")

    @Argument(help: "A video file (e.g. 720p H.264).")
    var file: String

    @Option(help: "Decoder threads (ffmpeg gets the same).")
    var threads = 2

    @Option(help: "Short side in pixels.")
    var shortSide = 256

    @OptionGroup var output: BenchOutput

    struct Report: Codable {
        var file: String
        var frames: Int
        /// The size frames are decoded to (short side --short-side) and the decoder threads.
        var width: Int
        var height: Int
        var threads: Int
        var nlnetFramesPerSecond: Double
        var ffmpegFramesPerSecond: Double?
        var ratio: Double?
        var views: ViewsReport
    }

    struct ViewsReport: Codable {
        var clips: Int, crops: Int, frames: Int, stride: Int
        var distinctFrames: Int
        var framesDecoded: Int
        var framesDecodedTwice: Int
        var seconds: Double
    }

    func run() throws {
        let probe = try VideoReader(path: file, threads: threads)
        let n = probe.info.frameCount
        let d = probe.info.displaySize
        let size = SpatialTransform.resized(width: d.width, height: d.height, shortSide: shortSide)
        // Clip by clip, as the pipeline works: 32 frames decoded and resized on this thread while
        // the previous 32 are normalised to Float32 on another.
        let whole = CropBox(x: 0, y: 0, width: size.width, height: size.height)
        let ours = {
            guard let reader = try? VideoReader(path: file, threads: threads) else { return }
            let normalise = DispatchQueue(label: "nlnet.bench.normalise")
            for first in stride(from: 0, to: n, by: 32) {
                let chunk = Array(first..<min(first + 32, n))
                guard let rgb = try? reader.frames(chunk, width: size.width, height: size.height) else { return }
                normalise.async { _ = SpatialTransform.clipTensor(rgb, frames: Array(0..<chunk.count), crop: whole) }
            }
            normalise.sync {}
        }
        // ffmpeg's runs alternate with ours, so both see the same machine.
        var runs = [ours]
        if let ffmpeg = ProjectFiles.which("ffmpeg") {
            runs.append {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: ffmpeg)
                p.arguments = ["-nostdin", "-v", "error", "-threads", "\(threads)", "-i", file, "-vf", "scale=-2:\(shortSide):flags=bilinear",
                               "-pix_fmt", "rgb24", "-f", "null", "-"]
                p.standardOutput = FileHandle.nullDevice
                try? p.run()
                p.waitUntilExit()
            }
        }
        let times = ConvBenchmark.bestOfEach(output.repeats, runs)
        let ourTime = times[0], ffmpegTime = times.count > 1 ? times[1] : nil
        // 10 views × 32 frames, stride 2: every needed frame decoded once.
        let sampler = ClipSampler(frames: 32, stride: 2)
        let reader = try VideoReader(path: file, threads: threads)
        let before = reader.stats.framesDecoded
        let start = DispatchTime.now().uptimeNanoseconds
        let views = try reader.testViews(sampler: sampler, clips: 10, crops: 3, shortSide: 256, cropSize: 256)
        let viewSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let distinct = Set(views.clips.joined()).count
        let report = Report(file: file, frames: n, width: size.width, height: size.height, threads: threads, nlnetFramesPerSecond: Double(n) / ourTime,
                            ffmpegFramesPerSecond: ffmpegTime.map { Double(n) / $0 },
                            ratio: ffmpegTime.map { $0 / ourTime },
                            views: ViewsReport(clips: 10, crops: 3, frames: 32, stride: 2, distinctFrames: distinct,
                                               framesDecoded: reader.stats.framesDecoded - before,
                                               framesDecodedTwice: reader.stats.redecodedFrames, seconds: viewSeconds))
        if output.json { print(try jsonLine(report)); return }
        print("\(file): \(n) frames, decoded to \(size.width)×\(size.height), \(threads) threads")
        print(String(format: "nlnet  decode+resize+normalise  %8.1f frames/s", report.nlnetFramesPerSecond))
        if let f = report.ffmpegFramesPerSecond, let r = report.ratio {
            print(String(format: "ffmpeg decode+resize (rgb24)    %8.1f frames/s   nlnet/ffmpeg %.2f×", f, r))
        } else {
            print("ffmpeg: not found on PATH (install the Debian package ffmpeg for the reference)")
        }
        print("10 clips × 3 crops, 32 frames stride 2: \(distinct) distinct frames needed, "
              + "\(report.views.framesDecoded) decoded (frames between them are references), "
              + "\(report.views.framesDecodedTwice) decoded twice, \(String(format: "%.2f", viewSeconds)) s")
    }
}
