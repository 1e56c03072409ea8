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
        let videos = try #require(doc["videos"] as? [[String: Any]])
        #expect(videos.count == 4)
        for v in videos {
            let path = try #require(v["path"] as? String)
            let expected = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let top = try #require((v["top"] as? [[String: Any]])?.first)
            #expect(top["label"] as? String == expected, "\(path): \(top)")
        }
    }

    @Test func aMissingModelFromTheEnvironmentIsNamed() throws {
        let r = try CLI.run(["classify", Self.synthetic, "--quiet"], environment: ["NLNET_MODEL": "/nonexistent/m.safetensors"])
        #expect(r.status != 0 && r.stderr.contains("NLNET_MODEL") && r.stderr.contains("/nonexistent/m.safetensors"), "\(r.stderr)")
    }
}
