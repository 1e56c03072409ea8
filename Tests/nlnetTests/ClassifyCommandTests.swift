import Foundation
import NLTensor
import Testing

@Suite("nlnet classify")
struct ClassifyCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let clips = root.appendingPathComponent("Clips").path
    /// The videos under Clips/ (searched recursively, as classify does with a folder; the
    /// attention GIF in Clips/attention is a video too).
    static let clipCount = FileManager.default.enumerator(atPath: clips)!.compactMap { $0 as? String }
        .filter { $0.hasSuffix(".mp4") || $0.hasSuffix(".gif") }.count
    /// A small network so the test is quick: NL-I3D at width 8, 2 clips × 1 crop of 64².
    static let small = ["--config", root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path, "--allow-untrained",
                        "--set", "model.width=8", "--clips", "2", "--crops", "1", "--size", "64", "--quiet"]

    /// A preset without weights is random weights: refused unless --allow-untrained, and then
    /// said so in the JSON (it once ran silently with "untrained": false).
    @Test func aPresetWithoutWeightsIsRefusedOrMarkedUntrained() throws {
        let preset = Self.root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path
        let clip = Self.clips + "/testsrc2_320x240.mp4"
        for verb in [["classify", clip], ["eval", "--data", clip], ["attention", clip, "--auto", "1", "-o", "/tmp/nlnet-unused-\(getpid())"]] {
            let r = try CLI.run(verb + ["--config", preset, "--quiet"].filter { verb[0] != "attention" || $0 != "--quiet" })
            #expect(r.status != 0 && r.stderr.contains("RANDOM weights") && r.stderr.contains("--weights"), "\(verb[0]): \(r.stderr)")
        }
        let r = try CLI.run(["classify", clip, "--json"] + Self.small)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["untrained"] as? Bool == true)
    }

    /// --precision bf16: where the CPU (here: NLNET_ISA) lacks it, one error naming the option
    /// and the reason, before any work; where it has it, the default model's top class as fp32.
    @Test func bf16IsRefusedWithoutTheKernelsAndAgreesWithThem() throws {
        let clip = Self.clips + "/testsrc2_320x240.mp4"
        for verb in [["classify", clip], ["eval", "--data", clip], ["bench", "model", "--frames", "4", "--size", "32"]] {
            let r = try CLI.run(verb + ["--precision", "bf16"] + Self.small.prefix(5), environment: ["NLNET_ISA": "avx2"])
            #expect(r.status != 0 && r.stderr.contains("--precision bf16") && r.stderr.contains("NLNET_ISA=avx2"), "\(verb[0]): \(r.stderr)")
        }
        guard Precision.bf16.unsupportedReason == nil else { return }
        var top: [String] = []
        for precision in ["fp32", "bf16"] {
            let r = try CLI.run(["classify", clip, "--json", "--precision", precision, "--clips", "2", "--crops", "1", "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let video = try #require((doc["videos"] as? [[String: Any]])?.first)
            top.append("\((video["top"] as? [[String: Any]])?.first?["label"] ?? "none")")
        }
        #expect(top[0] == top[1], "fp32 top class \(top[0]), bf16 \(top[1])")
    }

    /// A video named after --nonlocal is an input, not a second placement word.
    @Test func nonlocalTakesOneValue() throws {
        let clip = Self.clips + "/testsrc2_320x240.mp4"
        let r = try CLI.run(["classify"] + Self.small + ["--json", "--nonlocal", "none", clip])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((doc["videos"] as? [[String: Any]])?.count == 1)
    }

    @Test func jsonDocumentHasTheSchema() throws {
        let r = try CLI.run(["classify", Self.clips, "--json", "--top", "3", "--views"] + Self.small)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(Set(doc.keys) == ["model", "classes", "untrained", "protocolUsed", "ensemble", "videos"], "weights is absent for random weights")
        #expect((doc["classes"] as? [String])?.count == 400)
        let videos = try #require(doc["videos"] as? [[String: Any]])
        #expect(videos.count == Self.clipCount && Self.clipCount >= 3)
        for v in videos {
            #expect(Set(v.keys).isSuperset(of: ["path", "top", "frameCount", "clips", "views", "decodeSeconds", "networkSeconds"]))
            let top = try #require(v["top"] as? [[String: Any]])
            #expect(top.count == 3 && top.map { $0["rank"] as? Int } == [1, 2, 3])
            #expect(Set(top[0].keys) == ["rank", "index", "label", "probability"])
            let probabilities = top.compactMap { $0["probability"] as? Double }
            #expect(probabilities == probabilities.sorted(by: >))
            #expect((v["views"] as? [[Any]])?.count == 2)
        }
    }

    @Test func failuresAreReportedAndTheRunGoesOn() throws {
        let jsonl = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-\(getpid()).jsonl").path
        defer { unlink(jsonl) }
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-bad-\(getpid()).mp4").path
        _ = FileManager.default.createFile(atPath: bad, contents: Data("not a video".utf8))
        defer { unlink(bad) }
        let clip = Self.clips + "/testsrc2_320x240.mp4"
        let r = try CLI.run(["classify", bad, clip, "--jsonl", jsonl] + Self.small)
        #expect(r.status == 1, "a failed file makes the exit status non-zero")
        #expect(r.stderr.contains(bad) && r.stderr.contains("1 of 2 file(s) failed"), "\(r.stderr)")
        let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["path"] as? String == bad && (first["error"] as? String)?.contains(bad) == true)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["top"] != nil && second["error"] == nil)
        let kept = try CLI.run(["classify", bad, clip, "--keep-going"] + Self.small)
        #expect(kept.status == 0)
    }

    @Test func shardsSplitTheInputs() throws {
        var seen: [String] = []
        for k in 1...2 {
            let r = try CLI.run(["classify", Self.clips, "--json", "--shard", "\(k)/2"] + Self.small)
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            seen += (doc["videos"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        }
        #expect(seen.count == Self.clipCount && Set(seen).count == Self.clipCount)
        let bad = try CLI.run(["classify", Self.clips, "--shard", "3/2"] + Self.small)
        #expect(bad.status != 0 && bad.stderr.contains("--shard"))
    }

    /// Without the shipped default (a copy of the binary away from the project) and without
    /// NLNET_MODEL, one clear error says what to pass.
    @Test func noModelIsOneClearError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-nomodel-\(getpid())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("a/b/c"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("a/b/c/nlnet")
        try FileManager.default.copyItem(at: CLI.binary, to: copy)
        // Another test's process, forked while the copy was open for writing, can hold that
        // descriptor until it execs: exec then fails with ETXTBSY ("Text file busy") for a moment.
        var result: CLI.Result?
        for attempt in 1...20 where result == nil {
            do {
                result = try CLI.run(["classify", Self.clips, "--quiet"], environment: ["NLNET_MODEL": nil], executable: copy, directory: dir)
            } catch where "\(error)".contains("Text file busy") && attempt < 20 {
                usleep(100_000)
            }
        }
        let r = try #require(result)
        #expect(r.status != 0 && r.stderr.contains("--weights") && r.stderr.contains("default_model"), "\(r.stderr)")
    }
}
