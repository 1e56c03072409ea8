import Foundation
import TestSupport
import Testing

@Suite("nlnet attention")
struct AttentionCommandTests {
    @Test func writesPicturesAnimationAndJSON() throws {
        let root = ClassifyCommandTests.root
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-attention-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["attention", root.appendingPathComponent("Clips/testsrc2_320x240.mp4").path,
                             "--config", root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path,
                             "--set", "model.width=8", "--set", "input.short_side=96", "--set", "input.crop=96", "--allow-untrained",
                             "--block", "all", "--auto", "2", "--top", "4", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let records = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/attention.json"))) as? [[String: Any]])
        #expect(records.count == 5 * 2, "5 blocks × 2 queries")
        for record in records {
            let keys = try #require(record["keys"] as? [[String: Any]])
            #expect(keys.count == 4)
            let weights = keys.compactMap { $0["weight"] as? Double }
            #expect(weights == weights.sorted(by: >))
            for k in keys { #expect((k["x"] as? Int ?? -1) >= 0 && (k["x"] as? Int ?? 999) < 96 && (k["frame"] as? Int ?? 99) < 8) }
            for file in [record["picture"], record["animation"]].compactMap({ $0 as? String }) {
                let probe = try CLIProcess.output("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", out + "/" + file])
                #expect(probe.hasPrefix(file.hasSuffix(".png") ? "png" : "gif"), "\(file): \(probe)")
                // 96² frames are enlarged 2× by default (frames at least 160 pixels wide).
                let size = try CLIProcess.output("ffprobe", ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", out + "/" + file])
                #expect(size.hasPrefix(file.hasSuffix(".png") ? "\(8 * 192),192" : "192,192"), "\(file): \(size)")
            }
        }
        let bad = try CLI.run(["attention", root.appendingPathComponent("Clips/testsrc2_320x240.mp4").path,
                               "--config", root.appendingPathComponent("Configs/i3d_baseline_8x8_r50.yaml").path,
                               "--allow-untrained", "--auto", "1", "-o", out])
        #expect(bad.status != 0 && bad.stderr.contains("no non-local block"), "\(bad.stderr)")
    }
}

enum CLIProcess {
    static func output(_ program: String, _ args: [String]) throws -> String {
        String(decoding: try ExternalTool.run(program, args), as: UTF8.self)
    }
}
