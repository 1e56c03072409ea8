import Foundation
import NLModels
import NLTensor
import NLTrain
import TestSupport
import Testing

/// Training on the layouts users bring, and `nlnet features`.
@Suite("Datasets and features")
struct DatasetCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// data/{train,val}/{warm,cold}/*.mp4, one folder of frames among them, and one
    /// entry of a UCF101-style list whose video is missing.
    static let shared = Result { try makeTree() }

    static func makeTree() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-cli-data-\(getpid())")
        for split in ["train", "val"] {
            for (name, source) in [("warm", "testsrc2=size=64x48:rate=10"), ("cold", "mandelbrot=size=64x48:rate=10")] {
                let folder = dir.appendingPathComponent("data/\(split)/\(name)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try ExternalTool.lavfiClip(source, seconds: 1.2, to: folder.appendingPathComponent("a.mp4").path)
            }
        }
        let frames = dir.appendingPathComponent("data/train/cold/frames_b")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        try ExternalTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "mandelbrot=size=64x48:rate=10", "-frames:v", "12", frames.appendingPathComponent("img_%05d.jpg").path])
        try """
        model: {arch: i3d, width: 4, classes: 2, dropout: 0.5, train_crop: 32, nonlocal: {blocks: {res3: [1]}}}
        input: {frames: 4, stride: 2, short_side: 32, crop: 32}
        train: {batch_size: 2, base_lr: 0.05, steps: [1000], max_iterations: 4, jitter: [32, 40], crop: 32, checkpoint_every: 2, log_every: 1, seed: 3}
        """.write(to: dir.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    @Test func trainAndEvaluateAClassPerFolderTree() throws {
        let dir = try Self.shared.get()
        let out = dir.appendingPathComponent("run").path
        let r = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--data", dir.appendingPathComponent("data").path, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("3 videos, 2 classes"), "\(r.stderr)")
        let eval = try String(contentsOfFile: out + "/eval.json", encoding: .utf8)
        #expect(eval.contains("\"videos\" : 2"), "\(eval)")
        let evaluated = try CLI.run(["eval", "--weights", out + "/model.safetensors", "--data", dir.appendingPathComponent("data/val").path,
                                     "--clips", "1", "--crops", "1", "--json", "--quiet"])
        #expect(evaluated.status == 0 && evaluated.stdout.contains("\"videos\""), "\(evaluated.stderr)")
        let both = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--data", "x", "--train", "y", "--out", out])
        #expect(both.status == 64 && both.stderr.contains("either --train"), "\(both.stderr)")
    }

    /// Fine-tuning: a frozen part keeps its weights and BN statistics, backbone_lr_scale 0 moves
    /// only the head, and validation every eval_every steps keeps the best weights.
    @Test func fineTuningFreezesAndKeepsTheBest() throws {
        let dir = try Self.shared.get()
        let tiny = dir.appendingPathComponent("tiny.yaml").path, data = dir.appendingPathComponent("data").path
        let base = dir.appendingPathComponent("ft-base").path
        #expect(try CLI.run(["train", "--config", tiny, "--data", data, "--out", base, "--quiet"]).status == 0)
        let initial = try SafeTensors(contentsOf: base + "/model.safetensors")
        for (name, settings) in [("ft-freeze", ["--set", "train.freeze=[stem,res2,res3,res4,res5]"]), ("ft-lr0", ["--set", "train.backbone_lr_scale=0"])] {
            let out = dir.appendingPathComponent(name).path
            let r = try CLI.run(["train", "--config", tiny, "--data", data, "--out", out, "--initial", base + "/model.safetensors", "--quiet",
                                 "--set", "train.eval_every=2"] + settings)
            #expect(r.status == 0, "\(r.stderr)")
            let tuned = try SafeTensors(contentsOf: out + "/model.safetensors")
            var changedBackbone: [String] = [], headChanged = false
            for tensor in initial.names {
                let same = try initial.tensor(tensor).scalars == tuned.tensor(tensor).scalars
                if tensor.hasPrefix("head.") { headChanged = headChanged || !same }
                else if !same && (name == "ft-freeze" || !tensor.contains("running_")) { changedBackbone.append(tensor) }
            }
            #expect(headChanged, "\(name): the head learns")
            #expect(changedBackbone.isEmpty, "\(name): backbone tensors changed: \(changedBackbone.prefix(3))")
            let best = try SafeTensors(contentsOf: out + "/best.safetensors")
            #expect(best.metadata["nlnet.best"]?.hasPrefix("top1 ") == true && best.metadata["nlnet.labels"] == "cold\nwarm", "\(best.metadata)")
        }
        let bad = try CLI.run(["train", "--config", tiny, "--data", data, "--out", base, "--set", "train.freeze=[res9]"])
        #expect(bad.status != 0 && bad.stderr.contains("res9") && bad.stderr.contains("stem, res2"), "\(bad.stderr)")
    }

    @Test func missingVideosAreNamedInOneSummary() throws {
        let dir = try Self.shared.get()
        let list = dir.appendingPathComponent("withmissing.csv")
        try "path,label\ndata/train/warm/a.mp4,warm\ndata/train/cold/a.mp4,cold\ngone/nothere.mp4,cold\n".write(to: list, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run-missing").path
        let r = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--train", list.path, "--out", out,
                             "--set", "train.max_iterations=1", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("1 of 3 videos are missing and skipped") && r.stderr.contains("nothere.mp4"), "\(r.stderr)")
        #expect((try? String(contentsOfFile: out + "/missing-withmissing.txt", encoding: .utf8))?.contains("gone/nothere.mp4") == true)
    }

    /// `nlnet features` writes each view's res5 average: multiplied by the head's weights it
    /// gives the global-pool logits of a forward pass; --layer res4 is that stage's output.
    @Test func featuresArePooledActivations() throws {
        let dir = try Self.shared.get()
        let out = dir.appendingPathComponent("feats.safetensors").path
        let config = ["--config", Self.root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path, "--allow-untrained", "--set", "model.width=8"]
        let clip = dir.appendingPathComponent("data/val/warm/a.mp4").path
        let r = try CLI.run(["features", clip, dir.appendingPathComponent("data/val/cold").path, "nothere.mp4", "-o", out, "--per", "clip", "--clips", "2"] + config)
        #expect(r.status == 1 && r.stderr.contains("nothere.mp4"), "\(r.stderr)")
        let file = try SafeTensors(contentsOf: out)
        let features = try file.tensor("features")
        #expect(features.shape == [4, 256])   // 2 videos × 2 clips, res5 of width 8: 8·32
        let index = try String(contentsOfFile: dir.appendingPathComponent("feats.jsonl").path, encoding: .utf8).split(separator: "\n")
        #expect(index.count == 5 && index[4].contains("\"error\""), "\(index)")
        // The reference, in process: the same random model (seed 0) and views; the head's
        // weights times the features give the global-pool logits of a forward pass.
        let model = ResNet3D(config: try ModelConfig.load(path: Self.root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path,
                                                           overrides: ["model.width=8"]), seed: 0)
        var views = ViewProtocol(config: model.config)
        views.clips = 2; views.crops = 1
        let video = try VideoClassifier.decodeViews(clip, views: views)
        let w = model.weights["head.projection.weight"]!.scalars, b = model.weights["head.projection.bias"]!.scalars
        let classes = b.count
        for (v, view) in video.views.tensors.enumerated() {
            let logits = model.logits(view.reshaped([1] + view.shape)).scalars
            let row = Array(features.scalars[(v * 256)..<((v + 1) * 256)])
            let fromFeatures = (0..<classes).map { k in b[k] + (0..<256).reduce(Float(0)) { $0 + row[$1] * w[$1 * classes + k] } }
            let worst = zip(logits, fromFeatures).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-3 * max(1, logits.map(abs).max() ?? 1), "view \(v): head(features) differs from the logits by \(worst)")
        }
        let perVideo = try CLI.run(["features", clip, "-o", dir.appendingPathComponent("video.safetensors").path, "--clips", "2"] + config)
        #expect(perVideo.status == 0, "\(perVideo.stderr)")
        let mean = try SafeTensors(contentsOf: dir.appendingPathComponent("video.safetensors").path).tensor("features").scalars
        let rows = features.scalars
        let expected = (0..<256).map { (rows[$0] + rows[256 + $0]) / 2 }
        #expect(zip(mean, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "per-video features are the mean of the clips'")
        let res4 = try CLI.run(["features", clip, "-o", dir.appendingPathComponent("res4.safetensors").path, "--layer", "res4", "--clips", "1"] + config)
        #expect(res4.status == 0, "\(res4.stderr)")
        #expect(try SafeTensors(contentsOf: dir.appendingPathComponent("res4.safetensors").path).tensor("features").shape == [1, 128])
        let bad = try CLI.run(["features", clip, "-o", out, "--layer", "res9"] + config)
        #expect(bad.status != 0 && bad.stderr.contains("res2, res3, res4, res5"), "\(bad.stderr)")
    }
}
