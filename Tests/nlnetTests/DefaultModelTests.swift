import Foundation
import Testing

/// The shipped default model (Configs/default_model.safetensors, trained by
/// Scripts/train_default_model.sh) is what classify uses without --weights/--config.
@Suite("Default model")
struct DefaultModelTests {
    static let synthetic = ClassifyCommandTests.root.appendingPathComponent("Clips/synthetic").path

    /// Each demo clip (one per class, made by `nlnet synth` with a seed neither the training
    /// nor the ablation data used) is classified as its class, from the file alone.
    @Test func classifiesTheDemoClipsWithoutBeingToldWhichModel() throws {
        let r = try CLI.run(["classify", Self.synthetic, "--json", "--top", "1", "--quiet"], environment: ["NLNET_MODEL": nil])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["untrained"] as? Bool == false && doc["model"] as? String == "nl_i3d_synthetic", "\(doc["model"] ?? "")")
        #expect((doc["weights"] as? String)?.hasSuffix("Configs/default_model.safetensors") == true && (doc["classes"] as? [String])?.count == 4)
        // The human output says which model answered and what it knows.
        let human = try CLI.run(["classify", Self.synthetic + "/colours_match.mp4", "--top", "1", "--clips", "1", "--crops", "1"],
                                environment: ["NLNET_MODEL": nil])
        #expect(human.stdout.hasPrefix("model: nl_i3d_synthetic (") && human.stdout.contains("4 classes: colours_differ, colours_match")
                && human.stdout.contains("synthetic benchmark only"), "\(human.stdout)")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-empty-\(getpid())").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let nothing = try CLI.run(["classify", empty], environment: ["NLNET_MODEL": nil])
        #expect(nothing.status != 0 && nothing.stderr.contains("nothing to classify"), "an empty folder is not a success: \(nothing.stderr)")
        let videos = try #require(doc["videos"] as? [[String: Any]])
        #expect(videos.count == 4)
        for v in videos {
            let path = try #require(v["path"] as? String)
            let expected = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let top = try #require((v["top"] as? [[String: Any]])?.first)
            #expect(top["label"] as? String == expected, "\(path): \(top)")
        }
    }

    /// The README's attention picture: on colours_match, the query on event A (the blue square
    /// on the right in frames 0–2) weighs event B — the other blue square, on the left in the
    /// last frames — most: another frame, the other side of the 56² crop.
    @Test func theReadmeAttentionPictureHolds() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-default-attention-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["attention", Self.synthetic + "/colours_match.mp4", "--block", "s3.pathway0_nonlocal3", "--at", "1,25,38",
                             "--top", "16", "-o", out], environment: ["NLNET_MODEL": nil])
        #expect(r.status == 0, "\(r.stderr)")
        let records = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/attention.json"))) as? [[String: Any]])
        let keys = try #require(records.first?["keys"] as? [[String: Any]])
        let onB = keys.filter { ($0["frame"] as? Int ?? 0) >= 5 && ($0["x"] as? Int ?? 99) < 28 }.compactMap { $0["weight"] as? Double }.reduce(0, +)
        #expect(onB > 0.9, "weight on event B (later frames, left half): \(onB); keys \(keys)")
    }

    @Test func aMissingModelFromTheEnvironmentIsNamed() throws {
        let r = try CLI.run(["classify", Self.synthetic, "--quiet"], environment: ["NLNET_MODEL": "/nonexistent/m.safetensors"])
        #expect(r.status != 0 && r.stderr.contains("NLNET_MODEL") && r.stderr.contains("/nonexistent/m.safetensors"), "\(r.stderr)")
    }
}
