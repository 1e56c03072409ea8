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
        try ExternalTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "mandelbrot=size=64x48:rate=10", "-frames:v", "12",
                                        frames.appendingPathComponent("img_%05d.jpg").path])
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
        let r = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--data", dir.appendingPathComponent("data").path,
                             "--out", out])
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

    /// The other layouts, built over the same videos: each trains (2 steps) and evaluates.
    @Test(arguments: ["rawframes", "ucf101", "hmdb51", "kinetics"])
    func everyLayoutTrainsAndEvaluates(_ layout: String) throws {
        let dir = try Self.shared.get()
        let root = dir.appendingPathComponent("layout-\(layout)")
        try? FileManager.default.removeItem(at: root)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let data = dir.appendingPathComponent("data").path
        func link(_ from: String, _ to: String) throws {
            let target = root.appendingPathComponent(to)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: target.path, withDestinationPath: from)
        }
        func write(_ text: String, _ name: String) throws { try text.write(to: root.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let train: String, val: String, extra: [String]
        switch layout {
        case "rawframes":
            // Frames folders, one per line with its frame count and class index (cold 0, warm 1).
            try link("\(data)/train/cold/frames_b", "frames/cold_b")
            for (name, source) in [("warm_a", "testsrc2"), ("cold_a", "mandelbrot")] {
                let folder = root.appendingPathComponent("frames/\(name)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try ExternalTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "\(source)=size=64x48:rate=10", "-frames:v", "12",
                                                folder.appendingPathComponent("img_%05d.jpg").path])
            }
            try write("frames/cold_b 12 0\nframes/warm_a 12 1\n", "train_list.txt")
            try write("frames/cold_a 12 0\nframes/warm_a 12 1\n", "val_list.txt")
            (train, val, extra) = ("train_list.txt", "val_list.txt", ["--classes", root.appendingPathComponent("classes.txt").path])
            try write("cold\nwarm\n", "classes.txt")
        case "ucf101":
            try link("\(data)/train/warm/a.mp4", "UCF-101/warm/v_warm_g01_c01.avi")
            try link("\(data)/train/cold/a.mp4", "UCF-101/cold/v_cold_g01_c01.avi")
            try link("\(data)/val/warm/a.mp4", "UCF-101/warm/v_warm_g02_c01.avi")
            try link("\(data)/val/cold/a.mp4", "UCF-101/cold/v_cold_g02_c01.avi")
            try FileManager.default.createDirectory(at: root.appendingPathComponent("lists"), withIntermediateDirectories: true)
            try write("1 cold\n2 warm\n", "lists/classInd.txt")
            try write("warm/v_warm_g01_c01.avi 2\ncold/v_cold_g01_c01.avi 1\n", "lists/trainlist01.txt")
            try write("warm/v_warm_g02_c01.avi\ncold/v_cold_g02_c01.avi\n", "lists/testlist01.txt")
            (train, val, extra) = ("lists/trainlist01.txt", "lists/testlist01.txt", [])
        case "hmdb51":
            try link("\(data)/train/warm/a.mp4", "hmdb51/warm/w1.avi")
            try link("\(data)/val/warm/a.mp4", "hmdb51/warm/w2.avi")
            try link("\(data)/train/cold/a.mp4", "hmdb51/cold/c1.avi")
            try link("\(data)/val/cold/a.mp4", "hmdb51/cold/c2.avi")
            try FileManager.default.createDirectory(at: root.appendingPathComponent("splits"), withIntermediateDirectories: true)
            try write("w1.avi 1\nw2.avi 2\n", "splits/warm_test_split1.txt")
            try write("c1.avi 1\nc2.avi 2\n", "splits/cold_test_split1.txt")
            (train, val, extra) = ("splits", "splits", [])
        default:
            // Full videos cut by time range (0.2–1.0 s of each 1.2 s clip).
            try link("\(data)/train/warm/a.mp4", "train/warm/ytwarm.mp4")
            try link("\(data)/train/cold/a.mp4", "train/cold/ytcold.mp4")
            try write("label,youtube_id,time_start,time_end,split\nwarm,ytwarm,0.2,1.0,train\ncold,ytcold,0.2,1.0,train\n", "train.csv")
            (train, val, extra) = ("train.csv", "train.csv", [])
        }
        let out = root.appendingPathComponent("run").path
        let r = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--train", root.appendingPathComponent(train).path,
                             "--val", root.appendingPathComponent(val).path, "--out", out, "--set", "train.max_iterations=2", "--quiet"] + extra)
        #expect(r.status == 0, "\(layout): \(r.stderr)")
        let eval = try CLI.run(["eval", "--weights", out + "/model.safetensors", "--data", root.appendingPathComponent(val).path,
                                "--clips", "1", "--crops", "1", "--json", "--quiet"])
        #expect(eval.status == 0, "\(layout) eval: \(eval.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        #expect(doc?["videos"] as? Int == 2 && doc?["failed"] as? Int == 0, "\(layout): \(eval.stdout)")
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
        let r = try CLI.run(["features", clip, dir.appendingPathComponent("data/val/cold").path, "nothere.mp4", "-o", out,
                             "--per", "clip", "--clips", "2"] + config)
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
