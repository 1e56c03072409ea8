import Foundation
import NLTensor
import TestSupport
import Testing

/// classify's --scores (every probability) and --annotate (the answer drawn on the video).
@Suite("classify --scores, --annotate")
struct ClassifyOutputsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let clips = root.appendingPathComponent("Clips/synthetic")

    @Test func scoresHoldEveryProbability() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-scores-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let a = Self.clips.appendingPathComponent("colours_match.mp4").path, b = Self.clips.appendingPathComponent("left_to_right.mp4").path
        let jsonl = dir.appendingPathComponent("s.jsonl").path
        let r = try CLI.run(["classify", a, b, "--clips", "2", "--crops", "3", "--quiet", "--json", "--scores", jsonl])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 2)
        let video = lines[0]["video"] as! [Double], views = lines[0]["views"] as! [[Double]]
        #expect(video.count == 4 && views.count == 6 && abs(video.reduce(0, +) - 1) < 1e-4)
        // The video's vector is the mean of its views' (the default ensemble), and its top
        // class is the one classify reported.
        for k in 0..<4 { #expect(abs(video[k] - views.map { $0[k] }.reduce(0, +) / 6) < 1e-5) }
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let first = ((doc["videos"] as! [[String: Any]])[0]["top"] as! [[String: Any]])[0]
        #expect(first["index"] as? Int == video.indices.max { video[$0] < video[$1] })

        let file = dir.appendingPathComponent("s.safetensors").path
        #expect(try CLI.run(["classify", a, b, "--clips", "2", "--crops", "3", "--quiet", "--scores", file]).status == 0)
        let stored = try SafeTensors(contentsOf: file)
        #expect(try stored.tensor("video").shape == [2, 4] && stored.tensor("views").shape == [12, 4])
        #expect(zip(try stored.tensor("video").scalars.prefix(4), video).allSatisfy { abs(Double($0) - $1) < 1e-6 })
        #expect(stored.metadata["nlnet.paths"]?.contains("colours_match.mp4") == true)
        let bad = try CLI.run(["classify", a, "--scores", dir.appendingPathComponent("s.txt").path])
        #expect(bad.status == 64 && bad.stderr.contains(".jsonl or .safetensors"), "\(bad.stderr)")
    }

    @Test func annotateWritesTheVideoWithItsAnswer() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-annotate-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("long.mp4").path
        try ExternalTool.lavfiClip("testsrc2=size=160x120:rate=10", seconds: 3, to: input)
        let out = dir.appendingPathComponent("annotated.mp4").path
        let r = try CLI.run(["classify", input, "--annotate", out, "--quiet", "--clips", "2", "--crops", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let probe = try CLI.run(["probe", out, "--json"])
        #expect(probe.stdout.contains("\"frameCount\":30") && probe.stdout.contains("\"width\":160") && probe.stdout.contains("\"height\":120"),
                "\(probe.stdout)")
        // Several inputs: a folder of NAME.annotated.mp4.
        let folder = dir.appendingPathComponent("annotated").path
        let two = try CLI.run(["classify", input, Self.clips.appendingPathComponent("colours_match.mp4").path, "--annotate", folder, "--quiet",
                               "--clips", "1", "--crops", "1"])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder + "/long.annotated.mp4")
                && FileManager.default.fileExists(atPath: folder + "/colours_match.annotated.mp4"))
    }
}
