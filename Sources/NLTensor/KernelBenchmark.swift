import Foundation

/// One convolution shape timed three ways in the same run: `cblas_sgemm` on the GEMM the conv
/// reduces to (M = output positions, K = kT·kH·kW·Cin, N = Cout), the full conv3d (im2col
/// included), and im2col alone. Best of `repeats` after one warm-up.
package struct ConvBenchmark: Sendable, Codable {
    package let name: String
    package let input: [Int]
    package let cout: Int
    package let geometry: [String: [Int]]
    package let m: Int, k: Int, n: Int
    package let sgemmSeconds: Double
    package let convSeconds: Double
    package let im2colSeconds: Double
    /// The conv through the own GEMM (PackedConvWeight) in fp32 and in bf16, timed in the same
    /// rounds as `convSeconds`; nil where the CPU lacks the kernels.
    package let ownConvSeconds: Double?
    package let bf16ConvSeconds: Double?
    /// The conv by Winograd, in the same rounds; nil where the conv does not run by it.
    package let winogradConvSeconds: Double?

    package var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
    package var sgemmGFLOPS: Double { flops / sgemmSeconds / 1e9 }
    package var convGFLOPS: Double { flops / convSeconds / 1e9 }
    /// conv rate / sgemm rate on the same shape.
    package var ratio: Double { sgemmSeconds / convSeconds }
    package var im2colFraction: Double { im2colSeconds / convSeconds }

    package static func run(name: String, input: [Int], cout: Int, geometry: ConvGeometry, repeats: Int = 3) -> ConvBenchmark {
        let x = Tensor(repeating: 0.5, shape: input)
        let weight = Tensor(repeating: 0.01, shape: geometry.kernel + [input[4], cout])
        let plan = ConvPlan(input: input, weight: weight.shape, geometry: geometry)
        let (m, k) = (plan.n * plan.rows, plan.k)
        let a = Tensor(repeating: 0.5, shape: [m, k]), c = Tensor(uninitialized: [m, cout])
        let sgemmTime = best(repeats) {
            sgemm(m: m, n: cout, k: k, a: a.pointer, lda: k, b: weight.pointer, ldb: cout, c: c.pointer, ldc: cout)
        }
        // OpenBLAS, the own fp32 GEMM and bf16 alternate, so a change of load falls on all three.
        var convs: [() -> Void] = [{ _ = conv3dForward(x, weight: weight, geometry: geometry, epilogue: ConvEpilogue()) }]
        let precisions = PackedMatrix.isAvailable && !DirectConv.applies(to: plan) ? Precision.allCases.filter { $0.unsupportedReason == nil } : []
        for precision in precisions {
            let packed = PackedConvWeight(weight, precision: precision)
            convs.append { _ = conv3dForward(x, weight: weight, geometry: geometry, epilogue: ConvEpilogue(), packed: packed) }
        }
        // Winograd where this conv runs by it (a 3×1×1 conv over 4 frames keeps the direct product).
        let winograd = precisions.isEmpty || !WinogradWeight.wanted(weight: weight.shape, geometry: geometry) ? nil
            : PackedConvWeight(weight, precision: .fp32, geometry: geometry)
        let runsWinograd = winograd?.winograd?.runs(plan) == true
        if let winograd, runsWinograd {
            convs.append { _ = conv3dForward(x, weight: weight, geometry: geometry, epilogue: ConvEpilogue(), packed: winograd) }
        }
        let convTimes = bestOfEach(repeats, convs)
        let convTime = convTimes[0]
        let packedTime = Dictionary(uniqueKeysWithValues: zip(precisions, convTimes.dropFirst()))
        let winogradTime = runsWinograd ? convTimes.last : nil
        var im2colTime = 0.0
        if !geometry.isPointwise && !geometry.isTemporalOnly {
            let tile = plan.tileRows
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: tile * k)
            defer { cols.deallocate() }
            im2colTime = best(repeats) {
                for image in 0..<plan.n {
                    for first in stride(from: 0, to: plan.rows, by: tile) {
                        plan.im2col(x.pointer, image: image, first: first, count: min(tile, plan.rows - first), into: cols)
                    }
                }
            }
        }
        return ConvBenchmark(name: name, input: input, cout: cout,
                             geometry: ["kernel": geometry.kernel, "stride": geometry.stride, "padding": geometry.padding],
                             m: m, k: k, n: cout, sgemmSeconds: sgemmTime, convSeconds: convTime, im2colSeconds: im2colTime,
                             ownConvSeconds: packedTime[.fp32], bf16ConvSeconds: packedTime[.bf16],
                             winogradConvSeconds: winogradTime)
    }

    /// Best wall time of `repeats` runs of `body`, after one warm-up run.
    package static func best(_ repeats: Int, _ body: () -> Void) -> Double {
        withoutActuallyEscaping(body) { bestOfEach(repeats, [$0])[0] }
    }

    /// Best wall time of each body over `repeats` rounds, after one warm-up round; a round runs
    /// every body once, in turn, so a change in the machine's load falls on all of them alike
    /// (these machines are shared: compare things measured this way, not in separate spans).
    /// `before` runs ahead of each body, outside its time (the benches wait there for PyTorch's
    /// threads to go idle).
    package static func bestOfEach(_ repeats: Int, _ bodies: [() -> Void], before: () -> Void = {}) -> [Double] {
        var best = [Double](repeating: .infinity, count: bodies.count)
        for round in 0...max(repeats, 1) {
            for (i, body) in bodies.enumerated() {
                before()
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                if round > 0 { best[i] = min(best[i], Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            }
        }
        return best
    }

    /// Square sgemm rate (GFLOP/s) for an n×n×n product, the machine's reference peak.
    package static func squareSgemmGFLOPS(_ n: Int, repeats: Int = 3) -> Double {
        let a = Tensor(repeating: 0.5, shape: [n, n]), b = Tensor(repeating: 0.5, shape: [n, n])
        let c = Tensor(uninitialized: [n, n])
        let t = best(repeats) { sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n) }
        return 2 * pow(Double(n), 3) / t / 1e9
    }
}
