import ArgumentParser
import Foundation
import NLTensor

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed against a reference timed in the same run.",
        subcommands: [BenchModel.self, BenchKernels.self, BenchDecode.self, BenchClassify.self, BenchTrain.self, BenchMemory.self],
        defaultSubcommand: BenchModel.self)
}

/// Every convolution shape of NL-I3D ResNet-50 at 8×224×224 (the official `resnet_video`
/// layout, docs/architecture.md#output-shapes): T = 8 in res2, 4 after pool2; 55→28→14→7 spatially.
struct ConvShape {
    let name: String
    let input: [Int]      // N, T, H, W, Cin
    let cout: Int
    let kernel: [Int], stride: [Int], padding: [Int]
    var geometry: ConvGeometry { ConvGeometry(kernel: kernel, stride: stride, padding: padding) }

    static let nlI3DR50: [ConvShape] = {
        func s(_ name: String, _ t: Int, _ hw: Int, _ cin: Int, _ cout: Int, _ k: [Int], _ st: [Int] = [1, 1, 1]) -> ConvShape {
            ConvShape(name: name, input: [1, t, hw, hw, cin], cout: cout, kernel: k, stride: st,
                      padding: k.map { $0 / 2 })
        }
        let k311 = [3, 1, 1], k133 = [1, 3, 3], k111 = [1, 1, 1], s2 = [1, 2, 2]
        return [
            s("conv1 5×7×7", 8, 224, 3, 64, [5, 7, 7], s2),
            s("res2 2a 3×1×1 (b0)", 8, 55, 64, 64, k311),
            s("res2 2a 3×1×1", 8, 55, 256, 64, k311),
            s("res2 2b 1×3×3", 8, 55, 64, 64, k133),
            s("res2 2c / branch1", 8, 55, 64, 256, k111),
            s("res3 2a 3×1×1 (b0)", 4, 55, 256, 128, k311),
            s("res3 2b 1×3×3 s2 (b0)", 4, 55, 128, 128, k133, s2),
            s("res3 branch1 s2", 4, 55, 256, 512, k111, s2),
            s("res3 2a 1×1×1", 4, 28, 512, 128, k111),
            s("res3 2a 3×1×1", 4, 28, 512, 128, k311),
            s("res3 2b 1×3×3", 4, 28, 128, 128, k133),
            s("res3 2c", 4, 28, 128, 512, k111),
            s("res3 NL θ", 4, 28, 512, 256, k111),
            s("res3 NL φ/g (pooled)", 4, 14, 512, 256, k111),
            s("res3 NL W_z", 4, 28, 256, 512, k111),
            s("res4 2a 3×1×1 (b0)", 4, 28, 512, 256, k311),
            s("res4 2b 1×3×3 s2 (b0)", 4, 28, 256, 256, k133, s2),
            s("res4 branch1 s2", 4, 28, 512, 1024, k111, s2),
            s("res4 2a 1×1×1", 4, 14, 1024, 256, k111),
            s("res4 2a 3×1×1", 4, 14, 1024, 256, k311),
            s("res4 2b 1×3×3", 4, 14, 256, 256, k133),
            s("res4 2c", 4, 14, 256, 1024, k111),
            s("res4 NL θ", 4, 14, 1024, 512, k111),
            s("res4 NL φ/g (pooled)", 4, 7, 1024, 512, k111),
            s("res4 NL W_z", 4, 14, 512, 1024, k111),
            s("res5 2a 1×1×1 (b0)", 4, 14, 1024, 512, k111),
            s("res5 2b 1×3×3 s2 (b0)", 4, 14, 512, 512, k133, s2),
            s("res5 branch1 s2", 4, 14, 1024, 2048, k111, s2),
            s("res5 2a 3×1×1", 4, 7, 2048, 512, k311),
            s("res5 2a 1×1×1", 4, 7, 2048, 512, k111),
            s("res5 2b 1×3×3", 4, 7, 512, 512, k133),
            s("res5 2c", 4, 7, 512, 2048, k111),
        ]
    }()
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "cblas_sgemm vs conv3d (im2col included) on every conv shape of NL-I3D R50 at 8×224².")

    @OptionGroup var output: BenchOutput

    @Option(help: "Only shapes whose name contains this text.")
    var filter: String?

    /// The shapes to time: all, or those whose name contains --filter.
    var shapes: [ConvShape] { ConvShape.nlI3DR50.filter { filter == nil || $0.name.contains(filter!) } }

    func validate() throws {
        if shapes.isEmpty {
            throw ValidationError("--filter '\(filter ?? "")' matches no conv shape; names are: "
                                  + ConvShape.nlI3DR50.map(\.name).joined(separator: ", "))
        }
    }

    func run() throws {
        let peak = ConvBenchmark.squareSgemmGFLOPS(2048, repeats: output.repeats)
        var results: [ConvBenchmark] = []
        if !output.json {
            print("OpenBLAS kernel \(BLASKernel.coreName), kernels \(KernelLevel.current), \(Parallel.cores) threads; "
                  + "square sgemm 2048³: \(String(format: "%.1f", peak)) GFLOP/s")
            if let hint = Runtime.blasChoiceHint { print(hint) }
            print(pad("shape", 24) + pad("M×K×N", 20) + pad("sgemm GF/s", 12) + pad("conv GF/s", 11) + pad("conv/sgemm", 12)
                  + pad("im2col share", 14) + pad("own fp32 GF/s", 15) + pad("own bf16 GF/s", 15) + "Winograd GF/s")
        }
        for shape in shapes {
            let r = ConvBenchmark.run(name: shape.name, input: shape.input, cout: shape.cout,
                                      geometry: shape.geometry, repeats: output.repeats)
            results.append(r)
            if !output.json {
                print(pad(r.name, 24) + pad("\(r.m)×\(r.k)×\(r.n)", 20) + pad(f1(r.sgemmGFLOPS), 12) + pad(f1(r.convGFLOPS), 11)
                      + pad(String(format: "%.0f%%", 100 * r.ratio), 12) + pad(String(format: "%.0f%%", 100 * r.im2colFraction), 14)
                      + pad(r.ownConvSeconds.map { f1(r.flops / $0 / 1e9) } ?? "n/a", 15)
                      + pad(r.bf16ConvSeconds.map { f1(r.flops / $0 / 1e9) } ?? "n/a", 15)
                      + (r.winogradConvSeconds.map { f1(r.flops / $0 / 1e9) } ?? "n/a"))
            }
        }
        let totalFlops = results.reduce(0) { $0 + $1.flops }
        let convTime = results.reduce(0) { $0 + $1.convSeconds }, sgemmTime = results.reduce(0) { $0 + $1.sgemmSeconds }
        if output.json {
            let object = BenchKernelsReport(blasKernel: BLASKernel.coreName, kernelLevel: KernelLevel.current, threads: Parallel.cores,
                                            note: Runtime.blasChoiceHint,
                                            squareSgemmGFLOPS: peak, shapes: results.map(KernelShape.init),
                                            totalConvGFLOPS: totalFlops / convTime / 1e9,
                                            totalSgemmGFLOPS: totalFlops / sgemmTime / 1e9,
                                            totalConvOverSgemm: sgemmTime / convTime)
            print(try jsonLine(object))
        } else {
            print(String(format: "all shapes: conv %.1f GFLOP/s, sgemm %.1f GFLOP/s, conv/sgemm %.0f%%",
                         totalFlops / convTime / 1e9, totalFlops / sgemmTime / 1e9, 100 * sgemmTime / convTime))
        }
    }
}

/// Every figure the table prints, for --json (ConvBenchmark's rates and ratios are computed
/// properties, which its synthesised encoding leaves out).
struct BenchKernelsReport: Codable {
    let blasKernel: String
    let kernelLevel: String
    let threads: Int
    /// The table's note when OPENBLAS_CORETYPE holds back a faster kernel.
    let note: String?
    let squareSgemmGFLOPS: Double
    let shapes: [KernelShape]
    let totalConvGFLOPS: Double
    let totalSgemmGFLOPS: Double
    /// conv rate / sgemm rate over all shapes (the table's last line, as a fraction).
    let totalConvOverSgemm: Double
}

struct KernelShape: Codable {
    let name: String
    let input: [Int]
    let cout: Int
    let geometry: [String: [Int]]
    let m: Int, k: Int, n: Int
    let sgemmSeconds: Double, convSeconds: Double, im2colSeconds: Double
    let sgemmGFLOPS: Double, convGFLOPS: Double
    /// conv rate / sgemm rate on this shape (the table's conv/sgemm, as a fraction).
    let convOverSgemm: Double
    /// im2col time / conv time (the table's im2col share, as a fraction).
    let im2colShare: Double
    /// The conv through the own GEMM, fp32 and bf16 (absent where the CPU lacks them).
    let ownConvGFLOPS: Double?, bf16ConvGFLOPS: Double?
    /// The conv by Winograd F(2×2, 3×3), as the direct conv's FLOPs over its time (so above
    /// the machine's peak where it saves more than it costs); absent where it does not apply.
    let winogradGFLOPS: Double?

    init(_ r: ConvBenchmark) {
        name = r.name; input = r.input; cout = r.cout; geometry = r.geometry
        m = r.m; k = r.k; n = r.n
        sgemmSeconds = r.sgemmSeconds; convSeconds = r.convSeconds; im2colSeconds = r.im2colSeconds
        sgemmGFLOPS = r.sgemmGFLOPS; convGFLOPS = r.convGFLOPS; convOverSgemm = r.ratio; im2colShare = r.im2colFraction
        ownConvGFLOPS = r.ownConvSeconds.map { r.flops / $0 / 1e9 }; bf16ConvGFLOPS = r.bf16ConvSeconds.map { r.flops / $0 / 1e9 }
        winogradGFLOPS = r.winogradConvSeconds.map { r.flops / $0 / 1e9 }
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}

func f1(_ x: Double) -> String { String(format: "%.1f", x) }
