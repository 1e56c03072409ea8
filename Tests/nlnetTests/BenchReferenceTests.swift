import Foundation
import Testing

/// Issue 19: `bench model`, `bench train` and `bench memory` time PyTorch in the same run when
/// a Python with torch is there, and say plainly why not when it is not (CI has no torch).
@Suite("bench: the PyTorch reference in the same run")
struct BenchReferenceTests {
    static let preset = ConventionsTests.preset

    /// A stand-in for a Python without torch: it fails as `import torch` would.
    static func pythonWithoutTorch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-no-torch-\(getpid()).sh").path
        let script = "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func benchModelReportsThePyTorchSideAsNotRunWithTheReason() throws {
        for (python, reason) in [("/usr/bin/false", "exit 1"), (try Self.pythonWithoutTorch(), "No module named 'torch'")] {
            let r = try CLI.run(["bench", "model", "--config", Self.preset, "--frames", "2", "--size", "32", "--repeats", "1", "--json"],
                                environment: ["NLNET_TORCH_PYTHON": python])
            #expect(r.status == 0, "\(r.stderr)")
            let report = try Self.object(r.stdout)
            let pytorch = try #require(report["pytorch"] as? String)
            #expect(pytorch.hasPrefix("PyTorch side not run: ") && pytorch.contains(reason), "\(pytorch)")
            for key in ["torchModes", "torchEagerMsPerClip", "torchCompileMsPerClip", "torchBf16MsPerClip", "torchEagerRatio"] {
                #expect(report[key] == nil, "\(key)")
            }
            // The FMA peak is measured, and no network runs above it.
            let peak = try #require(report["fmaPeakGFLOPS"] as? Double)
            #expect(peak.isFinite && peak > 0)
            let fraction = try #require(report["fractionOfFMAPeak"] as? Double)
            #expect(fraction > 0 && fraction < 1)
            #expect(report["fmaPeakThreads"] as? Int ?? 0 >= 1)
        }
        let table = try CLI.run(["bench", "model", "--config", Self.preset, "--frames", "2", "--size", "32", "--repeats", "1", "--no-pytorch"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("FMA peak ") && table.stdout.contains("PyTorch side not run: --no-pytorch"))
    }

    /// A stand-in reference that speaks the scripts' protocol (a ready line, then seconds per
    /// request) and, like PyTorch's OpenMP workers, keeps a core busy after each reply: `spins`
    /// shell loop turns, in its own process (the wait reads that process's threads).
    static func spinningReference(spins: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-spinning-\(getpid())-\(spins).sh").path
        let script = """
            #!/bin/sh
            echo '{"torch": "stand-in", "threads": 2, "modes": {"eager": "spins after replying"}}'
            while read word; do
              echo 0.001
              i=0; while [ $i -lt \(spins) ]; do i=$((i+1)); done
            done

            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// nlnet's run after a PyTorch reply waits until the reference's threads stop spinning
    /// (libgomp's workers took a core from the next nlnet forward: C2D R50 182–195 against
    /// 150–152 ms per clip), and the wait is reported.
    @Test func benchModelWaitsForTheReferenceToGoIdle() throws {
        var waits: [Int: Double] = [:]
        for spins in [0, 300_000] {
            let r = try CLI.run(["bench", "model", "--config", Self.preset, "--frames", "2", "--size", "32", "--repeats", "2", "--json"],
                                environment: ["NLNET_TORCH_PYTHON": try Self.spinningReference(spins: spins)])
            #expect(r.status == 0, "\(r.stderr)")
            let report = try Self.object(r.stdout)
            // PyTorch's time is still reported (under a loaded CI machine the stand-in's spin can
            // outlast the one-second cap of the wait, so its time is not bounded here).
            #expect(report["torchEagerMsPerClip"] as? Double != nil, "\(report)")
            waits[spins] = try #require(report["torchIdleWaitMs"] as? Double)
        }
        // A shell loop of 300k turns keeps a core busy for about a third of a second after each
        // reply; with none, each run waits two 5 ms looks.
        #expect(waits[0]! < 50 && waits[300_000]! > waits[0]! + 20, "\(waits)")
    }

    @Test func benchTrainSharesTheReference() throws {
        let r = try CLI.run(["bench", "train", "--config", Self.preset, "--batch", "2", "--frames", "2", "--size", "64", "--repeats", "1", "--json"],
                            environment: ["NLNET_TORCH_PYTHON": try Self.pythonWithoutTorch()])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try Self.object(r.stdout)
        #expect((report["pytorch"] as? String)?.contains("No module named 'torch'") == true, "\(report)")
        #expect(report["pytorchSecondsPerStep"] == nil && report["ratio"] == nil)
        // --no-pytorch does not start Python at all (a Python that would fail is never asked).
        let skipped = try CLI.run(["bench", "train", "--config", Self.preset, "--batch", "2", "--frames", "2", "--size", "64",
                                   "--repeats", "1", "--no-pytorch"], environment: ["NLNET_TORCH_PYTHON": "/nonexistent/python"])
        #expect(skipped.status == 0 && skipped.stdout.contains("PyTorch side not run: --no-pytorch"), "\(skipped.stderr)")
    }

    @Test func benchMemoryMeasuresNLNetAlone() throws {
        let r = try CLI.run(["bench", "memory", "--config", Self.preset, "--frames", "4", "--size", "64", "--json"],
                            environment: ["NLNET_TORCH_PYTHON": "/usr/bin/false"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try Self.object(r.stdout)
        let nlnet = try #require(report["nlnet"] as? [String: Int])
        let (baseline, peak) = (nlnet["baselineRSS"] ?? 0, nlnet["peakRSS"] ?? 0)
        #expect(baseline > 0 && peak >= baseline && nlnet["forwardRSS"] == peak - baseline, "\(nlnet)")
        #expect((report["pytorch"] as? String)?.hasPrefix("PyTorch side not run: ") == true)
        #expect(report["torchEager"] == nil && report["peakRatio"] == nil)
        #expect(report["input"] as? [Int] == [4, 64, 64, 3])
    }
}
