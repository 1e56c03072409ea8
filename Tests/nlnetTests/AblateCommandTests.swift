import Foundation
import Testing

@Suite("nlnet ablate")
struct AblateCommandTests {
    @Test func quickAblationOfTwoVariantsWritesTheReports() throws {
        let root = ClassifyCommandTests.root
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-ablate-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("plan.yaml")
        try """
        name: smoke
        base: \(root.appendingPathComponent("Configs/ablations/base.yaml").path)
        data: {synth: {classes: [left_to_right, right_to_left], train: 2, val: 1, frames: 16, size: 64, seed: 0}}
        seeds: 2
        quick: [train.max_iterations=2, train.batch_size=2]
        variants:
          - {name: C2D}
          - {name: NL I3D, set: [model.arch=i3d, model.nonlocal.blocks=10-block]}
        """.write(to: plan, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        let r = try CLI.run(["ablate", plan.path, "--out", out, "--quick"])
        #expect(r.status == 0, "\(r.stderr)")
        let csv = try String(contentsOfFile: out + "/results.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 1 + 2 * 2, "header + 2 variants × 2 seeds")
        let md = try String(contentsOfFile: out + "/results.md", encoding: .utf8)
        #expect(md.contains("| C2D |") && md.contains("| NL I3D |") && md.contains("±"))
        #expect(try String(contentsOfFile: out + "/results.svg", encoding: .utf8).hasPrefix("<svg"))
        // A second run reuses the finished runs.
        let again = try CLI.run(["ablate", plan.path, "--out", out, "--quick"])
        #expect(again.status == 0 && !again.stderr.contains("training"), "\(again.stderr)")
        // Plans writing to one run store share runs (10-block places blocks in two stages: the
        // digest must not depend on dictionary order, which differs between processes); a
        // changed override is a new run.
        let store = dir.appendingPathComponent("store").path
        let first = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("a").path, "--runs", store, "--quick", "--seeds", "1"])
        #expect(first.status == 0 && first.stderr.contains("training"), "\(first.stderr)")
        let shared = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("b").path, "--runs", store, "--quick", "--seeds", "1"])
        #expect(shared.status == 0 && !shared.stderr.contains("training") && shared.stderr.contains("reused"), "\(shared.stderr)")
        try String(contentsOf: plan, encoding: .utf8).replacingOccurrences(of: "10-block", with: "5-block").write(to: plan, atomically: true, encoding: .utf8)
        let changed = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("c").path, "--runs", store, "--quick", "--seeds", "1"])
        #expect(changed.status == 0 && changed.stderr.contains("NL I3D, seed 0: training") && !changed.stderr.contains("C2D, seed 0: training"),
                "\(changed.stderr)")
    }

    @Test func aBadPlanNamesTheKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-badplan-\(getpid()).yaml")
        defer { try? FileManager.default.removeItem(at: dir) }
        try "base: x.yaml\ndata: {train: a.csv, val: b.csv}\nvariants: []\nseeds: 2\n".write(to: dir, atomically: true, encoding: .utf8)
        let r = try CLI.run(["ablate", dir.path, "--out", "/tmp/unused"])
        #expect(r.status != 0 && r.stderr.contains("variants"), "\(r.stderr)")
    }
}
