import Foundation
import NLTensor
import Testing

/// Issue 17, "A command line people can trust": one set of conventions in every verb (README,
/// "Command-line conventions").
@Suite("Command-line conventions")
struct ConventionsTests {
    static let root = ClassifyCommandTests.root
    static let synthetic = root.appendingPathComponent("Clips/synthetic").path
    static let preset = root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path

    static func scratch(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    // MARK: 1. nlnet presets

    /// Every Configs/*.yaml is listed with its backbone, placement, checkpoint URL and published
    /// accuracy ("—" where a preset has none), in the table and in the JSON.
    @Test func presetsListEveryPresetWithItsCheckpoint() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Configs").path)
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
        let table = try CLI.run(["presets"])
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").dropFirst(2).map { String($0) }
        #expect(rows.map { String($0.prefix { $0 != " " }) } == files)
        let nl = try #require(rows.first { $0.hasPrefix("i3d_nonlocal_8x8_r50 ") })
        #expect(nl.contains("I3D R50") && nl.contains("res3=1,3 res4=1,3,5") && nl.contains("74.7/91.6")
                && nl.hasSuffix("https://dl.fbaipublicfiles.com/video-nonlocal/i3d_nonlocal_8x8_IN_pretrain_400k.pkl"), "\(nl)")
        let mm = try #require(rows.first { $0.hasPrefix("mmaction2_i3d_nl_dot_product_32x2_r50 ") })
        #expect(mm.contains("74.80/92.07") && mm.hasSuffix("—"), "no URL published: \(mm)")
        let paper = try #require(rows.first { $0.hasPrefix("paper_table1_c2d_32x2_r50 ") })
        #expect(paper.filter { $0 == "—" }.count == 2, "neither accuracy nor checkpoint: \(paper)")

        let doc = try CLI.run(["presets", "--json"])
        let entries = try #require(try Self.json(doc.stdout) as? [[String: Any]])
        #expect(entries.compactMap { $0["name"] as? String } == files)
        let slowfast = try #require(entries.first { $0["name"] as? String == "slowfast_i3d_nln_8x8_r50" })
        #expect(slowfast["url"] as? String == "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/I3D_NLN_8x8_R50.pkl")
        #expect(slowfast["top1"] as? Double == 74.0 && slowfast["top5"] as? Double == 91.1 && slowfast["nonlocal"] as? String == "res3=1,3 res4=1,3,5")
        let baseline = try #require(entries.first { $0["name"] as? String == "c2d_baseline_8x8_r50" })
        #expect(baseline["arch"] as? String == "c2d" && baseline["nonlocal"] as? String == "none" && baseline["frames"] as? Int == 8)

        // --config takes a preset by name; a misspelt name gets the nearest one.
        let byName = try CLI.run(["info", "--config", "i3d_nonlocal_8x8_r50", "--json"])
        #expect(try byName.status == 0 && byName.stdout == (try CLI.run(["info", "--config", Self.preset, "--json"])).stdout, "\(byName.stderr)")
        let misspelt = try CLI.run(["info", "--config", "i3d_nonlocal_8x8_r5"])
        #expect(misspelt.status == 1 && misspelt.stderr.contains("did you mean i3d_nonlocal_8x8_r50?"), "\(misspelt.stderr)")
    }

    // MARK: 2. make install

    /// `make install` with DESTDIR/PREFIX into a temporary folder; the installed binary, run
    /// from another folder (directly and through a symlink), finds the default model, the
    /// labels and the presets.
    @Test func anInstalledBinaryFindsItsModelAndPresets() throws {
        let dir = try Self.scratch("install")
        defer { try? FileManager.default.removeItem(at: dir) }
        let stage = dir.appendingPathComponent("stage").path
        // `-o build`: the binary under test is installed as it is (no build inside the tests).
        let make = try CLI.run(["-C", Self.root.path, "-o", "build", "install", "DESTDIR=\(stage)", "PREFIX=/opt/nlnet", "BIN=\(CLI.binary.path)"],
                               executable: URL(fileURLWithPath: "/usr/bin/make"))
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        let share = stage + "/opt/nlnet/share/nlnet/Configs"
        for file in ["default_model.safetensors", "labels/kinetics400.txt", "i3d_nonlocal_8x8_r50.yaml", "default_model.yaml"] {
            #expect(FileManager.default.fileExists(atPath: share + "/" + file), "\(file) installed")
        }
        let installed = URL(fileURLWithPath: stage + "/opt/nlnet/bin/nlnet")
        let elsewhere = dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let link = dir.appendingPathComponent("bin/nlnet")
        try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: installed)
        for binary in [installed, link] {
            let r = try CLI.run(["classify", Self.synthetic + "/colours_match.mp4", "--clips", "1", "--crops", "1", "--top", "1", "--json"],
                                environment: ["NLNET_MODEL": nil], executable: binary, directory: elsewhere)
            #expect(r.status == 0, "\(binary.path): \(r.stderr)")
            let doc = try #require(try Self.json(r.stdout) as? [String: Any])
            #expect((doc["weights"] as? String)?.hasSuffix("/opt/nlnet/share/nlnet/Configs/default_model.safetensors") == true, "\(doc["weights"] ?? "")")
            let top = ((doc["videos"] as? [[String: Any]])?.first?["top"] as? [[String: Any]])?.first
            #expect(top?["label"] as? String == "colours_match")
            let presets = try CLI.run(["presets"], executable: binary, directory: elsewhere)
            #expect(presets.status == 0 && presets.stdout.contains("share/nlnet/Configs") && presets.stdout.contains("i3d_nonlocal_8x8_r50"),
                    "\(presets.stderr)")
            let info = try CLI.run(["info", "--config", "c2d_baseline_8x8_r50"], executable: binary, directory: elsewhere)
            #expect(info.status == 0, "a preset by name: \(info.stderr)")
        }
    }

    // MARK: 3. Conventions

    /// -o/--output names a file, --out a folder; the other spelling is accepted (hidden), not
    /// "Missing expected argument".
    @Test func outputSpellingsAreInterchangeable() throws {
        let dir = try Self.scratch("spelling")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let synth = try CLI.run(["synth", "-o", data, "--train", "1", "--val", "0", "--classes", "colours_match", "--quiet"])
        #expect(synth.status == 0 && FileManager.default.fileExists(atPath: data + "/train.csv"), "\(synth.stderr)")
        let out = dir.appendingPathComponent("attention").path
        let attention = try CLI.run(["attention", Self.synthetic + "/colours_match.mp4", "--auto", "1", "--output", out], environment: ["NLNET_MODEL": nil])
        #expect(attention.status == 0 && FileManager.default.fileExists(atPath: out + "/attention.json"), "\(attention.stderr)")
        for args in [["train", "--config", "default_model", "--train", data + "/train.csv", "-o", dir.appendingPathComponent("t").path, "--stop-after", "0"],
                     ["convert", "/nonexistent.pkl", "--out", dir.appendingPathComponent("m.safetensors").path],
                     ["eval", "--data", data + "/train.csv", "-o", dir.appendingPathComponent("e").path, "--clips", "1", "--crops", "1", "--quiet"]] {
            let r = try CLI.run(args)
            #expect(!r.stderr.contains("Missing expected argument") && !r.stderr.contains("Unknown option"), "\(args[0]): \(r.stderr)")
        }
        let help = try CLI.run(["attention", "--help"])
        #expect(help.stdout.contains("--out <out>") && !help.stdout.contains("-o,"), "one spelling shown")
    }

    /// Usage errors (64) show the verb's own usage, also when found inside run(); failures (1)
    /// say what failed.
    @Test func exitStatusesAndUsage() throws {
        let empty = try Self.scratch("empty")
        defer { try? FileManager.default.removeItem(at: empty) }
        for (args, verb) in [(["classify", empty.path], "nlnet classify"),
                             (["bench", "model", "--config", Self.preset, "--set", "model.widht=8"], "nlnet bench model"),
                             (["attention", Self.synthetic + "/colours_match.mp4", "--block", "res9_nonlocal1", "--auto", "1", "--out", empty.path],
                              "nlnet attention")] {
            let r = try CLI.run(args)
            #expect(r.status == 64 && r.stderr.contains("Usage: \(verb)") && r.stderr.contains("See '\(verb) --help'"), "\(args): \(r.status) \(r.stderr)")
            #expect(!r.stderr.contains("Usage: nlnet <subcommand>"))
        }
        for args in [["info", "--config", "/nonexistent/x.yaml"], ["info", "--weights", empty.path],
                     ["classify", Self.synthetic, "--labels", "/nonexistent/labels.txt"], ["convert", empty.path, "-o", "/dev/null"]] {
            let r = try CLI.run(args)
            #expect(r.status == 1 && (r.stderr.contains("no such file") || r.stderr.contains("is a directory")), "\(args): \(r.status) \(r.stderr)")
        }
    }

    /// Every verb that runs a network picks it the same way: the default model when nothing is
    /// given; --config alone (random weights) only with --allow-untrained where the output is
    /// predictions; eval has classify's --labels, --ensemble, --size and --json.
    @Test func oneModelSelectionAndEvalLikeClassify() throws {
        let dir = try Self.scratch("selection")
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("synthetic.csv").path
        try (["path,label"] + ["colours_differ", "colours_match", "left_to_right", "right_to_left"].map { "\(Self.synthetic)/\($0).mp4,\($0)" })
            .joined(separator: "\n").write(toFile: list, atomically: true, encoding: .utf8)
        let r = try CLI.run(["eval", "--data", list, "--json", "--clips", "2", "--crops", "1", "--size", "64", "--ensemble", "max", "--quiet"],
                            environment: ["NLNET_MODEL": nil])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try Self.json(r.stdout) as? [String: Any])
        #expect(doc["model"] as? String == "nl_i3d_synthetic" && doc["untrained"] as? Bool == false && doc["ensemble"] as? String == "max")
        #expect((doc["protocolUsed"] as? [String: Any])?["crop"] as? Int == 64 && (doc["protocolUsed"] as? [String: Any])?["clips"] as? Int == 2)
        #expect(doc["videos"] as? Int == 4 && doc["top1"] is Double && (doc["confusion"] as? [[Int]])?.count == 4 && (doc["results"] as? [Any])?.count == 4)
        // --labels fixes the class order, as in classify.
        let labels = dir.appendingPathComponent("labels.txt").path
        try "colours_differ\ncolours_match\nleft_to_right\nright_to_left\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let labelled = try CLI.run(["eval", "--data", list, "--labels", labels, "--json", "--clips", "1", "--crops", "1", "--quiet"],
                                   environment: ["NLNET_MODEL": nil])
        #expect(try labelled.status == 0 && ((try Self.json(labelled.stdout) as? [String: Any])?["classes"] as? [String])?.first == "colours_differ",
                "\(labelled.stderr)")
        // Random weights: refused, or allowed and said.
        let tiny = ["--config", Self.preset, "--set", "model.width=8", "--set", "model.classes=4"]
        let refused = try CLI.run(["eval", "--data", list, "--clips", "1", "--crops", "1", "--quiet"] + tiny)
        #expect(refused.status != 0 && refused.stderr.contains("RANDOM weights"), "\(refused.stderr)")
        let allowed = try CLI.run(["eval", "--data", list, "--clips", "1", "--crops", "1", "--size", "64", "--quiet", "--json", "--allow-untrained"] + tiny)
        #expect(try allowed.status == 0 && (try Self.json(allowed.stdout) as? [String: Any])?["untrained"] as? Bool == true, "\(allowed.stderr)")

        // forward: the default model without --weights; --config alone refused.
        let input = dir.appendingPathComponent("x.safetensors").path
        try SafeTensors.write(["input": Tensor(repeating: 0.1, shape: [1, 3, 8, 56, 56])], to: input)
        let output = dir.appendingPathComponent("y.safetensors").path
        let forward = try CLI.run(["forward", "--input", input, "-o", output], environment: ["NLNET_MODEL": nil])
        #expect(try forward.status == 0 && (try SafeTensors(contentsOf: output)).names.contains("logits"), "\(forward.stderr)")
        let forwardRandom = try CLI.run(["forward", "--input", input, "-o", output, "--config", Self.preset])
        #expect(forwardRandom.status != 0 && forwardRandom.stderr.contains("RANDOM weights"), "\(forwardRandom.stderr)")
        // bench classify: the default model too (it once timed a random R50 instead).
        let bench = try CLI.run(["bench", "classify", Self.synthetic + "/colours_match.mp4", "--json", "--repeats", "1", "--clips", "1", "--crops", "1"],
                                environment: ["NLNET_MODEL": nil])
        #expect(try bench.status == 0 && (try Self.json(bench.stdout) as? [String: Any])?["model"] as? String == "nl_i3d_synthetic", "\(bench.stderr)")
        let info = try CLI.run(["info", "--json"], environment: ["NLNET_MODEL": nil])
        #expect(try info.status == 0 && (try Self.json(info.stdout) as? [String: Any])?["model"] as? String == "nl_i3d_synthetic", "\(info.stderr)")
    }

    // MARK: 4. Block names

    /// info and attention name blocks one way (res3_nonlocal3); the weights' name is accepted.
    @Test func oneBlockNaming() throws {
        let dir = try Self.scratch("blocks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let info = try CLI.run(["info"], environment: ["NLNET_MODEL": nil])
        #expect(info.stdout.contains("res3_nonlocal3"))
        var outputs: [String] = []
        for name in ["res3_nonlocal3", "s3.pathway0_nonlocal3"] {
            let out = dir.appendingPathComponent(name).path
            let r = try CLI.run(["attention", Self.synthetic + "/colours_match.mp4", "--block", name, "--at", "1,25,38", "--top", "2", "--out", out],
                                environment: ["NLNET_MODEL": nil])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(FileManager.default.fileExists(atPath: out + "/res3_nonlocal3_q0.png"))
            outputs.append(try String(contentsOfFile: out + "/attention.json", encoding: .utf8))
        }
        #expect(outputs[0] == outputs[1] && outputs[0].contains("\"block\" : \"res3_nonlocal3\""))
    }

    // MARK: 5. Error texts

    /// No Swift type names or range syntax; --set errors blame the --set text and suggest the
    /// key meant; file errors say why.
    @Test func errorsInPlainWords() throws {
        let typo = try CLI.run(["info", "--config", Self.preset, "--set", "model.nonlocal.instantation=dot_product"])
        #expect(typo.status == 64 && typo.stderr.contains("--set model.nonlocal.instantation=dot_product: unknown key 'instantation'")
                && typo.stderr.contains("did you mean model.nonlocal.instantiation?") && !typo.stderr.contains(Self.preset), "\(typo.stderr)")
        let kind = try CLI.run(["info", "--config", Self.preset, "--set", "model.width=abc"])
        #expect(kind.status == 64 && kind.stderr.contains("--set model.width=abc: expected a whole number, got 'abc'"), "\(kind.stderr)")
        let mapping = try CLI.run(["info", "--config", Self.preset, "--set", "model.nonlocal=3"])
        #expect(mapping.stderr.contains("expected a mapping") && !mapping.stderr.contains("Mapping"), "\(mapping.stderr)")
        let data = try TrainCommandTests.dataset()
        let trainArgs = ["train", "--config", data.appendingPathComponent("tiny.yaml").path, "--train", data.appendingPathComponent("train.csv").path,
                         "--out", data.appendingPathComponent("unused").path]
        let train = try CLI.run(trainArgs + ["--set", "train.base_lrr=1"])
        #expect(train.status == 64 && train.stderr.contains("--set train.base_lrr=1: unknown key 'base_lrr': did you mean train.base_lr?"), "\(train.stderr)")
        let rate = try CLI.run(trainArgs + ["--set", "train.base_lr=abc"])
        #expect(rate.status == 64 && rate.stderr.contains("--set train.base_lr=abc: expected a number, got 'abc'"), "\(rate.stderr)")
        let yaml = try Self.scratch("yaml")
        defer { try? FileManager.default.removeItem(at: yaml) }
        let bad = yaml.appendingPathComponent("bad.yaml").path
        try "model: {arch: i3d, widht: 8}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let file = try CLI.run(["info", "--config", bad])
        #expect(file.stderr.contains("\(bad): model.widht: unknown key 'widht': did you mean model.width?"),
                "the file is blamed for its own keys: \(file.stderr)")
        for (args, why) in [(["info", "--config", yaml.path], "is a directory"), (["info", "--config", yaml.path + "/none.yaml"], "no such file"),
                            (["ablate", yaml.path, "--out", yaml.path + "/o"], "is a directory")] {
            let r = try CLI.run(args)
            #expect(r.status == 1 && r.stderr.contains(why), "\(args): \(r.stderr)")
        }
        // The Swift jargon once printed, grepped for in every error above.
        for r in [typo, kind, mapping, train, rate, file] {
            for jargon in ["..<", "Int", "Mapping", "Optional", "Array<", "Dictionary<", "DecodingError"] {
                #expect(!r.stderr.contains(jargon), "'\(jargon)' in \(r.stderr)")
            }
        }
    }

    // MARK: 6. --json carries what the table prints

    @Test func jsonCarriesEveryFigureOfTheTable() throws {
        let kernels = try CLI.run(["bench", "kernels", "--json", "--repeats", "1", "--filter", "res5 2b 1×3×3 s2"])
        let object = try #require(try Self.json(kernels.stdout) as? [String: Any])
        let shape = try #require((object["shapes"] as? [[String: Any]])?.first)
        let (sgemm, conv, im2col) = (shape["sgemmSeconds"] as? Double ?? 0, shape["convSeconds"] as? Double ?? 1, shape["im2colSeconds"] as? Double ?? 0)
        let flops = 2.0 * 196 * 4608 * 512
        #expect(abs((shape["sgemmGFLOPS"] as? Double ?? 0) - flops / sgemm / 1e9) < 1e-6 * flops / sgemm / 1e9)
        #expect(abs((shape["convGFLOPS"] as? Double ?? 0) - flops / conv / 1e9) < 1e-6 * flops / conv / 1e9)
        #expect(abs((shape["convOverSgemm"] as? Double ?? 0) - sgemm / conv) < 1e-9 && abs((shape["im2colShare"] as? Double ?? -1) - im2col / conv) < 1e-9)
        #expect(abs((object["totalConvOverSgemm"] as? Double ?? 0) - sgemm / conv) < 1e-9 && object["threads"] is Int && object["squareSgemmGFLOPS"] is Double)
        // The table's columns, one for one.
        let table = try CLI.run(["bench", "kernels", "--repeats", "1", "--filter", "res5 2b 1×3×3 s2"])
        #expect(table.stdout.contains("sgemm GF/s") && table.stdout.contains("conv/sgemm") && table.stdout.contains("im2col share"))

        let info = try CLI.run(["info", "--config", Self.preset, "--json"])
        let summary = try #require(try Self.json(info.stdout) as? [String: Any])
        #expect(summary["model"] as? String == "i3d_nonlocal_8x8_r50" && summary["arch"] as? String == "i3d" && summary["depth"] as? Int == 50
                && summary["layout"] as? String == "official" && summary["input"] as? [Int] == [8, 224, 224, 3])

        let decode = try CLI.run(["bench", "decode", Self.synthetic + "/colours_match.mp4", "--json", "--repeats", "1", "--short-side", "32"])
        let d = try #require(try Self.json(decode.stdout) as? [String: Any], "\(decode.stderr)")
        #expect(d["width"] as? Int == 32 && d["height"] as? Int == 32 && d["threads"] as? Int == 2)
    }

    // MARK: 7. Shell completion

    @Test func completionScripts() throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try CLI.run(["--generate-completion-script", shell])
            #expect(r.status == 0 && r.stdout.contains("presets") && r.stdout.contains("classify"), "\(shell)")
        }
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("--generate-completion-script"))
    }

    // MARK: 8. Order of results

    /// Inputs given one by one come out in the order given; only a folder's videos are sorted.
    @Test func resultsFollowTheOrderOfTheInputs() throws {
        let names = ["right_to_left", "colours_match", "left_to_right"]
        let r = try CLI.run(["classify"] + names.map { "\(Self.synthetic)/\($0).mp4" }
                                + [Self.synthetic + "/colours_d*.mp4", "--json", "--clips", "1", "--crops", "1", "--quiet"],
                            environment: ["NLNET_MODEL": nil])
        let doc = try #require(try Self.json(r.stdout) as? [String: Any], "\(r.stderr)")
        let paths = (doc["videos"] as? [[String: Any]] ?? []).compactMap {
            ($0["path"] as? String).map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        }
        #expect(paths == names + ["colours_differ"])
        let folder = try CLI.run(["classify", Self.synthetic, "--json", "--clips", "1", "--crops", "1", "--quiet"], environment: ["NLNET_MODEL": nil])
        let inFolder = ((try Self.json(folder.stdout) as? [String: Any])?["videos"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        #expect(inFolder == inFolder.sorted() && inFolder.count == 4)
    }

    // MARK: 9. train --resume with a changed recipe

    @Test func resumeWithAChangedRecipeWarns() throws {
        let data = try TrainCommandTests.dataset()
        let run = data.appendingPathComponent("recipe-\(UInt32.random(in: 0...UInt32.max))").path
        let args = ["train", "--config", data.appendingPathComponent("tiny.yaml").path, "--train", data.appendingPathComponent("train.csv").path,
                    "--out", run, "--quiet", "--set", "train.max_iterations=4"]
        let first = try CLI.run(args + ["--stop-after", "3"])
        #expect(first.status == 0 && FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors"), "\(first.stderr)")
        let changed = try CLI.run(args + ["--resume", "--set", "train.base_lr=0.1", "--stop-after", "3"])
        #expect(changed.status == 0 && changed.stderr.contains("warning") && changed.stderr.contains("train.base_lr 0.05 → 0.1"), "\(changed.stderr)")
        #expect(!changed.stderr.contains("max_iterations"), "only what changed is named: \(changed.stderr)")
        // Resumed with the recipe it was started with: nothing to warn about.
        let again = args.map { $0 == run ? run + "-same" : $0 }
        #expect(try CLI.run(again + ["--stop-after", "3"]).status == 0)
        let same = try CLI.run(again + ["--resume"])
        #expect(same.status == 0 && !same.stderr.contains("warning"), "\(same.stderr)")
    }
}
