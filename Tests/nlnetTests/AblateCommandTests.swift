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

    /// Two `--train-only` processes on one plan and run store (as Scripts/ablate.sh starts them)
    /// train every run exactly once between them; the report then equals a single process's.
    /// One thread each (NLNET_THREADS=1), so the numbers cannot depend on who trained what.
    @Test func twoProcessesShareOnePlanAndTrainEachRunOnce() throws {
        let root = ClassifyCommandTests.root
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-ablate-shared-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("plan.yaml")
        try """
        name: shared
        base: \(root.appendingPathComponent("Configs/ablations/base.yaml").path)
        data: {synth: {classes: [colours_match, colours_differ], train: 2, val: 1, frames: 16, size: 64, seed: 0}}
        seeds: 3
        quick: [train.max_iterations=2, train.batch_size=2, train.eval_every=1]
        variants:
          - {name: C2D}
          - {name: NL C2D, set: [model.nonlocal.blocks=1-block]}
        claims:
          - {better: NL C2D, than: C2D}
        curves: [C2D, NL C2D]
        """.write(to: plan, atomically: true, encoding: .utf8)
        let env: [String: String?] = ["NLNET_THREADS": "1"]
        let store = dir.appendingPathComponent("store").path
        let results = UnsafeMutablePointer<CLI.Result?>.allocate(capacity: 2)
        results.initialize(repeating: nil, count: 2)
        defer { results.deallocate() }
        let shared = SharedResults(results)
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            shared.set(k, try? CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("out\(k)").path, "--runs", store, "--quick", "--train-only"],
                                        environment: env))
        }
        let both = (0..<2).compactMap { results[$0] }
        #expect(both.count == 2 && both.allSatisfy { $0.status == 0 }, "\(both.map(\.stderr))")
        let trained = both.flatMap { $0.stderr.split(separator: "\n").filter { $0.hasSuffix("steps") && $0.contains(": training") } }
        #expect(trained.count == 2 * 3 && Set(trained).count == 6, "each of 6 runs trained once: \(trained)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out0/results.md").path), "--train-only writes no report")

        let report = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("report").path, "--runs", store, "--quick", "--report"],
                                 environment: env)
        #expect(report.status == 0 && !report.stderr.contains(": training"), "\(report.stderr)")
        let single = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("single").path, "--quick"], environment: env)
        #expect(single.status == 0, "\(single.stderr)")
        for file in ["results.md", "curves.csv"] {
            let a = try String(contentsOfFile: dir.appendingPathComponent("report/\(file)").path, encoding: .utf8)
            let b = try String(contentsOfFile: dir.appendingPathComponent("single/\(file)").path, encoding: .utf8)
            #expect(a == b, "\(file) differs between the shared store and a single process")
        }

        // Job-array tasks: --shards 2 with the 0-based index in JOB_COMPLETION_INDEX split the
        // runs (3 each, disjoint); --report without --out writes the tables into the store.
        let sharded = dir.appendingPathComponent("sharded").path
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            shared.set(k, try? CLI.run(["ablate", plan.path, "--runs", sharded, "--quick", "--shards", "2", "--shard-index-env", "JOB_COMPLETION_INDEX"],
                                        environment: ["NLNET_THREADS": "1", "JOB_COMPLETION_INDEX": "\(k)"]))
        }
        let tasks = (0..<2).compactMap { results[$0] }
        #expect(tasks.count == 2 && tasks.allSatisfy { $0.status == 0 }, "\(tasks.map(\.stderr))")
        let perTask = tasks.map { Set($0.stderr.split(separator: "\n").filter { $0.hasSuffix("steps") && $0.contains(": training") }) }
        #expect(perTask.map(\.count) == [3, 3] && perTask[0].isDisjoint(with: perTask[1]), "each task trains its own 3 runs: \(perTask)")
        let shardReport = try CLI.run(["ablate", plan.path, "--runs", sharded, "--quick", "--report"], environment: env)
        #expect(shardReport.status == 0 && !shardReport.stderr.contains(": training"), "\(shardReport.stderr)")
        for file in ["results.md", "curves.csv"] {
            let a = try String(contentsOfFile: sharded + "/\(file)", encoding: .utf8)
            let b = try String(contentsOfFile: dir.appendingPathComponent("single/\(file)").path, encoding: .utf8)
            #expect(a == b, "\(file) differs between the sharded store and a single process")
        }
    }

    /// A claim left by a process that died is taken over; one held by a live process makes
    /// --train-only skip the run and --report refuse, naming it.
    @Test func claimsOfDeadProcessesAreTakenOverLiveOnesRespected() throws {
        let root = ClassifyCommandTests.root
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-ablate-claims-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("plan.yaml")
        try """
        name: claims
        base: \(root.appendingPathComponent("Configs/ablations/base.yaml").path)
        data: {synth: {classes: [left_to_right, right_to_left], train: 2, val: 1, frames: 16, size: 64, seed: 0}}
        seeds: 1
        quick: [train.max_iterations=2, train.batch_size=2]
        variants:
          - {name: C2D}
        """.write(to: plan, atomically: true, encoding: .utf8)
        let store = dir.appendingPathComponent("store")
        // Find the run's folder: a --report of the empty store names it.
        let missing = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("r").path, "--runs", store.path, "--quick", "--report"])
        #expect(missing.status != 0 && missing.stderr.contains("not finished") && missing.stderr.contains("C2D seed 0"), "\(missing.stderr)")
        let folder = missing.stderr.range(of: #"\(([^)]*seed0)\)"#, options: .regularExpression)
        guard let runDir = folder.map({ String(missing.stderr[$0].dropFirst().dropLast()) }) else {
            Issue.record("no run folder in: \(missing.stderr)"); return
        }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName
        // Held by this (live) test process: skipped, and no report.
        try "\(host) \(getpid())\n".write(toFile: runDir + "/claim", atomically: true, encoding: .utf8)
        let skipped = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("a").path, "--runs", store.path, "--quick", "--train-only"])
        #expect(skipped.status == 0 && skipped.stderr.contains("held by \(host) \(getpid())") && !skipped.stderr.contains(": training"), "\(skipped.stderr)")
        // Held by a process that has exited: taken over and trained.
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run(); dead.waitUntilExit()
        try "\(host) \(dead.processIdentifier)\n".write(toFile: runDir + "/claim", atomically: true, encoding: .utf8)
        let taken = try CLI.run(["ablate", plan.path, "--out", dir.appendingPathComponent("b").path, "--runs", store.path, "--quick"])
        #expect(taken.status == 0 && taken.stderr.contains("C2D, seed 0: training"), "\(taken.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runDir + "/claim"), "the claim is released after the run")
    }
}

/// Results of processes run on concurrentPerform's threads, one slot each.
final class SharedResults: @unchecked Sendable {
    let slots: UnsafeMutablePointer<CLI.Result?>
    init(_ slots: UnsafeMutablePointer<CLI.Result?>) { self.slots = slots }
    func set(_ k: Int, _ r: CLI.Result?) { slots[k] = r }
}
