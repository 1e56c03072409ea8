import Foundation
import NLModels
import NLTensor
import Testing

/// `model.nonlocal.init`: N(0, 0.01) by default (the official code), MSRA with fan-out (the
/// paper, SlowFast) when asked; the block's BN still starts at γ = 0 either way, and the rest
/// of the network does not change.
@Suite("Non-local init")
struct NonLocalInitTests {
    static func model(_ initializer: String?) throws -> ResNet3D {
        let option = initializer.map { ", init: \($0)" } ?? ""
        let yaml = "model: {arch: c2d, width: 16, classes: 4, nonlocal: {blocks: {res3: [1]}\(option)}}\ninput: {frames: 4, crop: 32}"
        return ResNet3D(config: try ModelConfig.parse(yaml: yaml, source: "test"), seed: 5)
    }

    static func std(_ t: Tensor) -> Double {
        let v = t.scalars.map(Double.init), m = v.reduce(0, +) / Double(v.count)
        return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
    }

    @Test func officialGaussianByDefaultMSRAOnRequest() throws {
        let official = try Self.model(nil), paper = try Self.model("msra")
        // res3 of width 16: 128 channels, θ 128 → 64 (fan-out 64), W_z 64 → 128 (fan-out 128).
        for (name, fanOut) in [("conv_theta", 64.0), ("conv_phi", 64.0), ("conv_g", 64.0), ("conv_out", 128.0)] {
            let key = "s3.pathway0_nonlocal1.\(name).weight"
            let a = Self.std(official.weights[key]!), b = Self.std(paper.weights[key]!)
            #expect(abs(a - 0.01) < 0.001, "\(key): std \(a) with the official init")
            #expect(abs(b - (2 / fanOut).squareRoot()) < 0.1 * (2 / fanOut).squareRoot(), "\(key): std \(b) with msra")
        }
        #expect(paper.weights["s3.pathway0_nonlocal1.bn.weight"]!.scalars.allSatisfy { $0 == 0 }, "BN γ starts at 0")
        // Everything outside the block is drawn the same way.
        let outside = official.specs.map(\.name).filter { !$0.contains("nonlocal") }
        #expect(outside.allSatisfy { official.weights[$0]!.shape == paper.weights[$0]!.shape })
    }

    @Test func aWrongValueNamesTheKeyAndTheChoices() {
        do {
            _ = try Self.model("kaiming")
            Issue.record("accepted init: kaiming")
        } catch let e as ConfigError {
            #expect(e.keyPath == "model.nonlocal.init" && e.message.contains("gaussian") && e.message.contains("msra"), "\(e)")
        } catch { Issue.record("\(error)") }
    }
}
