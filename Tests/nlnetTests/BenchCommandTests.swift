import Foundation
import NLTensor
import Testing

@Suite("nlnet bench and BLAS setup")
struct BenchCommandTests {
    @Test func helpIsStable() throws {
        for (args, name) in [(["--help"], "nlnet-help.txt"), (["bench", "kernels", "--help"], "bench-kernels-help.txt"),
                             (["bench", "decode", "--help"], "bench-decode-help.txt"), (["probe", "--help"], "probe-help.txt"),
                             (["decode", "--help"], "decode-help.txt"), (["info", "--help"], "info-help.txt"),
                             (["forward", "--help"], "forward-help.txt"), (["bench", "model", "--help"], "bench-model-help.txt"),
                             (["classify", "--help"], "classify-help.txt"), (["bench", "classify", "--help"], "bench-classify-help.txt"),
                             (["convert", "--help"], "convert-help.txt"), (["train", "--help"], "train-help.txt"),
                             (["eval", "--help"], "eval-help.txt"), (["bench", "train", "--help"], "bench-train-help.txt"),
                             (["attention", "--help"], "attention-help.txt"), (["synth", "--help"], "synth-help.txt"),
                             (["ablate", "--help"], "ablate-help.txt"), (["presets", "--help"], "presets-help.txt"),
                             (["bench", "memory", "--help"], "bench-memory-help.txt")] {
            let r = try CLI.run(args)
            #expect(r.status == 0)
            #expect(r.stdout == (try CLI.golden(name, actual: r.stdout)), "\(args) help changed; rerun with NLNET_UPDATE_GOLDEN=1 if intended")
        }
    }

    @Test func kernelsJSONHasTheReportedFields() throws {
        let r = try CLI.run(["bench", "kernels", "--json", "--repeats", "1", "--filter", "res5 2b 1×3×3 s2"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(object["blasKernel"] is String)
        let shapes = try #require(object["shapes"] as? [[String: Any]])
        #expect(shapes.count == 1)
        #expect(shapes[0]["m"] as? Int == 196 && shapes[0]["k"] as? Int == 4608 && shapes[0]["n"] as? Int == 512)
        for key in ["sgemmSeconds", "convSeconds", "im2colSeconds"] { #expect((shapes[0][key] as? Double ?? 0) > 0, "\(key)") }
    }

    /// A --filter that matches no shape is one error listing the names (it printed NaN rates,
    /// and --json failed to encode them).
    @Test func kernelsFilterMatchingNothingIsAnError() throws {
        for json in [false, true] {
            let r = try CLI.run(["bench", "kernels", "--filter", "nosuchshape"] + (json ? ["--json"] : []))
            #expect(r.status == 64 && r.stderr.contains("--filter 'nosuchshape' matches no conv shape") && r.stderr.contains("conv1 5×7×7"),
                    "\(r.status) \(r.stderr)")
            #expect(!r.stdout.contains("nan"))
        }
    }

    /// A train.* key given to a verb that does not train is one error, not ignored in silence
    /// (bench train took --set train.batch_size=-1 and timed its default batch of 4).
    @Test func trainKeysOutsideTrainingAreAnError() throws {
        for verb in [["bench", "train", "--no-pytorch"], ["classify", "Clips/synthetic/left_to_right.mp4"]] {
            let r = try CLI.run(verb + ["--set", "train.batch_size=-1"])
            #expect(r.status == 64 && r.stderr.contains("--set train.batch_size=-1: train.* settings are read by `nlnet train`"),
                    "\(verb): \(r.status) \(r.stderr)")
        }
    }

    /// Whatever OpenBLAS detects, nlnet started without OPENBLAS_CORETYPE never runs on a
    /// generic fallback kernel when the CPU has AVX2 or AVX-512.
    @Test func neverRunsOnTheFallbackKernel() throws {
        guard BLASKernel.suggestedCoreType() != nil else { return }
        let r = try CLI.run(["bench", "kernels", "--json", "--repeats", "1", "--filter", "res4 NL θ"],
                            environment: ["OPENBLAS_CORETYPE": nil, "NLNET_BLAS_REEXEC": nil])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let kernel = try #require(object["blasKernel"] as? String)
        #expect(!["Prescott", "Core2", "Nehalem", "unknown"].contains(kernel), "running on \(kernel)")
    }

    /// A batch that leaves BN one value per channel (C2D's res5 at 32², one clip of 2 frames)
    /// is one error naming the layer, not a trap inside batch norm.
    @Test func aBatchNormCannotTrainOnIsAnError() throws {
        let r = try CLI.run(["bench", "train", "--config", "c2d_baseline_8x8_r50", "--batch", "1", "--size", "32", "--frames", "2", "--repeats", "1"],
                            environment: ["NLNET_TORCH_PYTHON": "/usr/bin/false"])
        #expect(r.status == 64 && r.stderr.contains("res5") && r.stderr.contains("one value per channel"), "\(r.status): \(r.stderr)")
    }

    /// A clip too large for the machine's memory is one error before any allocation, not a
    /// trap in the allocator (10000×4096² once asked for 2 TB and aborted) or an overflow in the
    /// layer summary.
    @Test func aClipBeyondMemoryIsAnError() throws {
        let preset = ["--config", "i3d_nonlocal_8x8_r50"]
        for verb in [["bench", "memory"], ["bench", "model", "--no-pytorch"], ["bench", "train", "--no-torch-compile"], ["info"]] {
            let r = try CLI.run(verb + preset + ["--frames", "10000", "--size", "4096"], environment: ["NLNET_TORCH_PYTHON": "/usr/bin/false"])
            #expect(r.status == 64 && r.stderr.contains("million pixels per clip"), "\(verb): \(r.status) \(r.stderr)")
            guard verb != ["info"] else { continue }
            let big = try CLI.run(verb + preset + ["--frames", "10000", "--size", "320"], environment: ["NLNET_TORCH_PYTHON": "/usr/bin/false"])
            #expect(big.status == 64 && big.stderr.contains("more than this machine's"), "\(verb): \(big.status) \(big.stderr)")
        }
    }

    @Test func suggestedCoreTypeFollowsTheCPUFlags() {
        let avx512: Set = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
        #expect(BLASKernel.suggestedCoreType(cpuFlags: avx512) == "SkylakeX")
        #expect(BLASKernel.suggestedCoreType(cpuFlags: ["avx2", "fma", "avx512f"]) == "Haswell")
        #expect(BLASKernel.suggestedCoreType(cpuFlags: ["sse4_2", "avx"]) == nil)
    }

    @Test func unknownSubcommandFailsWithAMessage() throws {
        let r = try CLI.run(["nothing"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("nothing"))
    }
}
