import Foundation
import Testing

/// The class of "a number the user typed crashed nlnet" made impossible: every option of every
/// verb, read from nlnet's own --experimental-dump-help, is run with 0, −1, a number past Int,
/// a huge Int, an empty string and garbage on a small valid invocation of its verb. Each run must
/// end by itself with status 0, 1 or 64 (never a signal such as the traps of exit 132, never a
/// hang), and a failure must say something on stderr.
@Suite("Crash class")
struct CrashClassTests {
    static let root = ClassifyCommandTests.root
    static let values = ["0", "-1", "99999999999999999999", "4611686018427387904", "", "garbage"]

    /// Verbs and their options (long names), from the binary itself.
    static func options() throws -> [(verb: [String], option: String)] {
        let r = try CLI.run(["--experimental-dump-help"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        var found: [([String], String)] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            for a in command["arguments"] as? [[String: Any]] ?? [] where a["kind"] as? String == "option" {
                if let name = (a["names"] as? [[String: Any]] ?? []).first(where: { $0["kind"] as? String == "long" })?["name"] as? String {
                    found.append((path, name))
                }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                if let name = sub["commandName"] as? String, name != "help" { walk(sub, path + [name]) }
            }
        }
        walk(try #require(doc["command"] as? [String: Any]), [])
        return found
    }

    @Test func everyOptionWithAbsurdValuesEndsCleanly() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-crash-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let data = scratch.appendingPathComponent("data").path
        let made = try CLI.run(["synth", "--out", data, "--train", "1", "--val", "1", "--classes", "colours_match,colours_differ", "--quiet"])
        try #require(made.status == 0, "\(made.stderr)")
        let plan = scratch.appendingPathComponent("plan.yaml").path
        try """
        name: crash
        base: \(Self.root.appendingPathComponent("Configs/ablations/base.yaml").path)
        data: {train: \(data)/train.csv, val: \(data)/val.csv}
        seeds: 1
        quick: [train.max_iterations=1, train.batch_size=1, train.eval_every=0]
        variants: [{name: C2D}]
        """.write(toFile: plan, atomically: true, encoding: .utf8)
        let clip = Self.root.appendingPathComponent("Clips/synthetic/colours_match.mp4").path
        let base = Self.root.appendingPathComponent("Configs/ablations/base.yaml").path
        let preset = Self.root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path
        func out(_ name: String) -> String { scratch.appendingPathComponent(name).path }
        // A small valid call of each verb; the option under test is appended (a later value wins).
        let valid: [String: [String]] = [
            "classify": [clip, "--clips", "1", "--crops", "1"],
            // A few steps in all: --stop-after=<huge> must not leave the 600 steps of base.yaml
            // to run into the time limit on a busy machine.
            "train": ["--config", base, "--train", data + "/train.csv", "--out", out("train"), "--stop-after", "1", "--quiet",
                      "--set", "train.max_iterations=3"],
            "eval": ["--data", data + "/val.csv", "--clips", "1", "--crops", "1", "--quiet"],
            "attention": [clip, "--auto", "1", "-o", out("attention")],
            "synth": ["--out", out("synth"), "--train", "1", "--val", "0", "--quiet"],
            "ablate": [plan, "--out", out("ablate"), "--quick"],
            "info": ["--config", preset],
            "decode": [clip, "--frames", "0", "-o", out("x.rgb")],
            "probe": [clip],
            "bench model": ["--config", base, "--repeats", "1", "--frames", "8", "--size", "32"],
            "bench memory": ["--config", base, "--frames", "4", "--size", "32"],
            "bench classify": [clip, "--repeats", "1", "--clips", "1", "--crops", "1"],
        ]
        let cases = try Self.options().flatMap { entry in Self.values.map { (entry.verb, entry.option, $0) } }
        #expect(cases.count > 300, "options found: \(cases.count / Self.values.count)")
        let failures = FailureList()
        // Two at a time: most calls stop at validation, some run a tiny network.
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for (i, c) in cases.enumerated() where i % 2 == worker {
                let (verb, option, value) = c
                var args = verb + (valid[verb.joined(separator: " ")] ?? []) + ["--\(option)=\(value)"]
                if verb == ["bench", "kernels"] { args += ["--filter", "res5_3b"] }
                let call = "nlnet \(args.joined(separator: " "))"
                // In the scratch folder: values such as "0" or "garbage" become relative output paths.
                guard let r = try? CLI.run(["60"] + [CLI.binary.path] + args, environment: ["NLNET_TORCH_PYTHON": "/nonexistent"],
                                           executable: URL(fileURLWithPath: "/usr/bin/timeout"), directory: scratch) else {
                    failures.add("\(call): could not run"); continue
                }
                if ![0, 1, 64].contains(r.status) {
                    failures.add("\(call): exit \(r.status) \(r.status == 124 ? "(timed out)" : "") \(r.stderr.prefix(200))")
                } else if r.status != 0 && r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    failures.add("\(call): exit \(r.status) with nothing on stderr")
                }
            }
        }
        let all = failures.all
        #expect(all.isEmpty, "\(all.count) calls did not end cleanly:\n\(all.prefix(20).joined(separator: "\n"))")
    }
}

final class FailureList: @unchecked Sendable {
    private var items: [String] = []
    private let lock = NSLock()
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
