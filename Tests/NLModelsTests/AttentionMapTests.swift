import Foundation
import NLModels
import NLTensor
import Testing

/// The recorded attention equals a direct computation from θ and φ written as loops over
/// positions, for every instantiation, mode, subsampling and temporal grouping.
@Suite("Attention maps")
struct AttentionMapTests {
    static let variants: [(String, [String])] = [
        ("embedded", []), ("embedded, no scale", ["model.nonlocal.scale=false"]),
        ("dot product", ["model.nonlocal.instantiation=dot_product"]), ("gaussian", ["model.nonlocal.instantiation=gaussian"]),
        ("concatenation", ["model.nonlocal.instantiation=concatenation"]),
        ("pool after", ["model.nonlocal.subsample=after"]), ("no pooling", ["model.nonlocal.subsample=none"]),
        ("space-only", ["model.nonlocal.mode=space"]), ("time-only", ["model.nonlocal.mode=time", "model.nonlocal.subsample=none"]),
        ("groups of 2", ["model.nonlocal.temporal_groups={res3: 2}"]),
    ]

    @Test(arguments: 0..<variants.count)
    func recordedAttentionEqualsDirectComputation(_ which: Int) throws {
        let (name, overrides) = Self.variants[which]
        let yaml = "model: {arch: i3d, width: 4, classes: 3, train_crop: 48, nonlocal: {blocks: {res3: [1]}}}"
        let config = try ModelConfig.parse(yaml: yaml, source: name, overrides: overrides)
        let model = ResNet3D(config: config, seed: 4)
        // Sharper embeddings than the N(0, 0.01) init, so the attention is far from uniform.
        for spec in model.specs where spec.name.contains("nonlocal") && spec.name.hasSuffix(".weight") && !spec.name.contains(".bn.") {
            model.setWeight(spec.name, model.weights[spec.name]! * 100)
        }
        var rng = RandomSource(seed: 1)
        let clip = Tensor(shape: [1, 8, 48, 48, 3], scalars: (0..<(8 * 48 * 48 * 3)).map { _ in rng.nextUnit() * 2 - 1 })
        final class Box: @unchecked Sendable { var input: Tensor? }
        let box = Box()
        var options = ForwardOptions()
        options.nonlocalInput = { _, x in box.input = x }
        _ = model.predict(clip, options: options)
        let x = try #require(box.input)
        let maps = model.attentionMaps(clip)
        let map = try #require(maps.first)
        #expect(maps.count == 1 && map.block == "s3.pathway0_nonlocal1")

        let (T, H, W, C) = (x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let inner = C / 2
        let nl = config.model.nonlocal
        let xs = x.scalars, w = model.weights
        func at(_ t: Int, _ h: Int, _ ww: Int) -> [Float] {
            let base = ((t * H + h) * W + ww) * C
            return Array(xs[base..<(base + C)])
        }
        func embed(_ v: [Float], _ conv: String) -> [Float] {
            let wt = w["s3.pathway0_nonlocal1.\(conv).weight"]!.scalars, b = w["s3.pathway0_nonlocal1.\(conv).bias"]!.scalars
            return (0..<inner).map { o in (0..<C).reduce(b[o]) { $0 + v[$1] * wt[$1 * inner + o] } }
        }
        func maxPool(_ t: Int, _ ky: Int, _ kx: Int, _ f: (Int, Int, Int) -> [Float]) -> [Float] {
            let cells = [(0, 0), (0, 1), (1, 0), (1, 1)].map { f(t, 2 * ky + $0.0, 2 * kx + $0.1) }
            return (0..<cells[0].count).map { c in cells.map { $0[c] }.max()! }
        }
        let gaussian = nl.instantiation == .gaussian
        func theta(_ t: Int, _ y: Int, _ xx: Int) -> [Float] { gaussian ? at(t, y, xx) : embed(at(t, y, xx), "conv_theta") }
        func phi(_ t: Int, _ ky: Int, _ kx: Int) -> [Float] {
            switch (nl.subsample, gaussian) {
            case (.none, true): return at(t, ky, kx)
            case (_, true): return maxPool(t, ky, kx) { at($0, $1, $2) }
            case (.none, false): return embed(at(t, ky, kx), "conv_phi")
            case (.before, false): return embed(maxPool(t, ky, kx) { at($0, $1, $2) }, "conv_phi")
            case (.after, false): return maxPool(t, ky, kx) { embed(at($0, $1, $2), "conv_phi") }
            }
        }
        var worst: Float = 0
        for (t, y, xx) in [(0, 0, 0), (T - 1, H - 1, W - 1), (1, 2, 3), (T / 2, H / 2, 1)] {
            let recorded = map.keys(t: t, y: y, x: xx)
            let q = theta(t, y, xx)
            let scores = recorded.map { k -> Float in
                let kv = phi(k.t, k.y, k.x)
                if nl.instantiation == .concatenation {
                    let wf = w["s3.pathway0_nonlocal1.concat_project.weight"]!.scalars
                    return max(0, (0..<inner).reduce(0) { $0 + wf[$1] * q[$1] + wf[inner + $1] * kv[$1] })
                }
                let dot = zip(q, kv).reduce(0) { $0 + $1.0 * $1.1 }
                return nl.instantiation == .embeddedGaussian && nl.scale ? dot / Float(inner).squareRoot() : dot
            }
            let expected: [Float]
            switch nl.instantiation {
            case .embeddedGaussian, .gaussian:
                let m = scores.max()!, e = scores.map { expf($0 - m) }, s = e.reduce(0, +)
                expected = e.map { $0 / s }
            case .dotProduct, .concatenation:
                expected = scores.map { $0 / Float(scores.count) }
            }
            // The keys themselves: the allowed set for the mode, on the right grid.
            switch nl.mode {
            case .space: #expect(recorded.allSatisfy { $0.t == t })
            case .time: #expect(recorded.allSatisfy { $0.y == y && $0.x == xx } && recorded.count == T)
            case .spacetime where nl.temporalGroups["res3"] != nil:
                let g = nl.temporalGroups["res3"]!
                #expect(recorded.allSatisfy { $0.t / g == t / g })
            case .spacetime: #expect(recorded.count == T * map.keyGrid[1] * map.keyGrid[2])
            }
            let scale = max(expected.map(abs).max()!, 1e-6)
            for (r, e) in zip(recorded, expected) { worst = max(worst, abs(r.weight - e) / scale) }
            if nl.instantiation != .dotProduct && nl.instantiation != .concatenation {
                #expect(expected.max()! > 1.5 / Float(expected.count), "\(name): attention too flat to test anything")
            }
        }
        #expect(worst <= 1e-4, "\(name): recorded attention differs from the direct computation by \(worst)")
    }
}
