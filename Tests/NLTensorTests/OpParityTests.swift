import NLTensor
import Testing

/// Forward and backward of every op against PyTorch (Tests/Fixtures/make_fixtures.py).
@Suite("Ops match PyTorch")
struct OpParityTests {
    let f = OpFixtures.shared

    @Test(arguments: OpFixtures.cases("conv3d"))
    func conv3dMatches(_ c: OpFixtures.Case) {
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let w = tape.watch(convWeight(fromPyTorch: f.tensor(c, "w")))
        let b = f.optional(c, "b").map(tape.watch)
        let y = conv3d(x, weight: w, bias: b, stride: c.params.stride!, padding: c.params.padding!,
                       dilation: c.params.dilation!)
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "\(c.name) y")
        let grads = tape.gradients(of: y, wrt: [x, w] + (b.map { [$0] } ?? []), seed: f.tensor(c, "gy"))
        expectClose(grads[0], f.tensor(c, "gx"), Tolerance.backward, "\(c.name) dx")
        expectClose(grads[1], convWeight(fromPyTorch: f.tensor(c, "gw")), Tolerance.backward, "\(c.name) dW")
        if b != nil { expectClose(grads[2], f.tensor(c, "gb"), Tolerance.backward, "\(c.name) db") }
    }

    @Test(arguments: OpFixtures.cases("conv3d"))
    func fusedConvEqualsConvPlusBias(_ c: OpFixtures.Case) {
        // Fused epilogue: relu(conv(x) + b + residual) against the reference output.
        let x = f.tensor(c, "x"), w = convWeight(fromPyTorch: f.tensor(c, "w"))
        let reference = f.tensor(c, "y")
        let residual = randomTensor(reference.shape, seed: 7)
        let fused = conv3dFused(x, weight: w, bias: f.optional(c, "b"), stride: c.params.stride!,
                                padding: c.params.padding!, dilation: c.params.dilation!, residual: residual, relu: true)
        expectClose(fused, relu(reference + residual), Tolerance.forward, "\(c.name) fused")
    }

    @Test(arguments: OpFixtures.cases("batchnorm"))
    func batchNormMatches(_ c: OpFixtures.Case) {
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let gamma = tape.watch(f.tensor(c, "gamma")), beta = tape.watch(f.tensor(c, "beta"))
        var stats = BatchNormStatistics(mean: f.tensor(c, "running_mean"), variance: f.tensor(c, "running_var"))
        let y = batchNorm(x, scale: gamma, shift: beta, statistics: &stats, training: c.params.training!,
                          momentum: c.params.momentum!, epsilon: c.params.epsilon!)
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "\(c.name) y")
        expectClose(stats.mean, f.tensor(c, "new_running_mean"), Tolerance.forward, "\(c.name) running mean")
        expectClose(stats.variance, f.tensor(c, "new_running_var"), Tolerance.forward, "\(c.name) running var")
        let g = tape.gradients(of: y, wrt: [x, gamma, beta], seed: f.tensor(c, "gy"))
        expectClose(g[0], f.tensor(c, "gx"), Tolerance.backward, "\(c.name) dx")
        expectClose(g[1], f.tensor(c, "ggamma"), Tolerance.backward, "\(c.name) dγ")
        expectClose(g[2], f.tensor(c, "gbeta"), Tolerance.backward, "\(c.name) dβ")
    }

    /// relu(bn(x) + residual) in one op, as a ResNet unit ends, against PyTorch's three ops; and
    /// relu(bn(x)) with no residual, whose backward pass recomputes the ReLU's gate from x.
    @Test(arguments: OpFixtures.cases("batchnorm_residual_relu") + OpFixtures.cases("batchnorm_relu"))
    func batchNormReLUMatches(_ c: OpFixtures.Case) {
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let residual = c.op == "batchnorm_relu" ? nil : tape.watch(f.tensor(c, "residual"))
        let gamma = tape.watch(f.tensor(c, "gamma")), beta = tape.watch(f.tensor(c, "beta"))
        var stats = BatchNormStatistics(mean: f.tensor(c, "running_mean"), variance: f.tensor(c, "running_var"))
        let y = batchNorm(x, scale: gamma, shift: beta, statistics: &stats, training: c.params.training!,
                          momentum: c.params.momentum!, epsilon: c.params.epsilon!, residual: residual, relu: true)
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "\(c.name) y")
        expectClose(stats.mean, f.tensor(c, "new_running_mean"), Tolerance.forward, "\(c.name) running mean")
        expectClose(stats.variance, f.tensor(c, "new_running_var"), Tolerance.forward, "\(c.name) running var")
        let g = tape.gradients(of: y, wrt: [x, gamma, beta] + (residual.map { [$0] } ?? []), seed: f.tensor(c, "gy"))
        expectClose(g[0], f.tensor(c, "gx"), Tolerance.backward, "\(c.name) dx")
        expectClose(g[1], f.tensor(c, "ggamma"), Tolerance.backward, "\(c.name) dγ")
        expectClose(g[2], f.tensor(c, "gbeta"), Tolerance.backward, "\(c.name) dβ")
        if residual != nil { expectClose(g[3], f.tensor(c, "gresidual"), Tolerance.backward, "\(c.name) d residual") }
    }

    @Test(arguments: OpFixtures.cases("relu") + OpFixtures.cases("maxpool") + OpFixtures.cases("avgpool")
          + OpFixtures.cases("softmax"))
    func unaryOpMatches(_ c: OpFixtures.Case) {
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let y: Tensor
        switch c.op {
        case "relu": y = relu(x)
        case "maxpool": y = maxPool3d(x, kernel: c.params.kernel!, stride: c.params.stride!, padding: c.params.padding!)
        case "avgpool": y = avgPool3d(x, kernel: c.params.kernel!, stride: c.params.stride!, padding: c.params.padding!)
        default: y = softmax(x)
        }
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "\(c.name) y")
        let g = tape.gradients(of: y, wrt: [x], seed: f.tensor(c, "gy"))
        expectClose(g[0], f.tensor(c, "gx"), Tolerance.backward, "\(c.name) dx")
    }

    @Test func globalAveragePoolMatches() {
        let c = OpFixtures.cases("avgpool").first { $0.name.hasSuffix("global") }!
        expectClose(globalAvgPool3d(f.tensor(c, "x")), f.tensor(c, "y"), Tolerance.forward, "global pool")
    }

    @Test func crossEntropyMatches() {
        let c = OpFixtures.cases("crossentropy")[0]
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let loss = softmaxCrossEntropy(x, labels: c.params.labels!)
        expectClose(loss, f.tensor(c, "y"), Tolerance.forward, "loss")
        expectClose(tape.gradients(of: loss, wrt: [x])[0], f.tensor(c, "gx"), Tolerance.backward, "dlogits")
    }

    @Test(arguments: OpFixtures.cases("matmul"))
    func matmulMatches(_ c: OpFixtures.Case) {
        let tape = Tape()
        let a = tape.watch(f.tensor(c, "a")), b = tape.watch(f.tensor(c, "b"))
        let y = matmul(a, b, transposeA: c.params.transposeA!, transposeB: c.params.transposeB!)
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "\(c.name) y")
        let g = tape.gradients(of: y, wrt: [a, b], seed: f.tensor(c, "gy"))
        expectClose(g[0], f.tensor(c, "ga"), Tolerance.backward, "\(c.name) da")
        expectClose(g[1], f.tensor(c, "gb"), Tolerance.backward, "\(c.name) db")
    }

    @Test func linearMatches() {
        let c = OpFixtures.cases("linear")[0]
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let w = tape.watch(linearWeight(fromPyTorch: f.tensor(c, "w"))), b = tape.watch(f.tensor(c, "b"))
        let y = linear(x, weight: w, bias: b)
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "y")
        let g = tape.gradients(of: y, wrt: [x, w, b], seed: f.tensor(c, "gy"))
        expectClose(g[0], f.tensor(c, "gx"), Tolerance.backward, "dx")
        expectClose(g[1], linearWeight(fromPyTorch: f.tensor(c, "gw")), Tolerance.backward, "dW")
        expectClose(g[2], f.tensor(c, "gb"), Tolerance.backward, "db")
    }

    @Test func broadcastMultiplyAddMatches() {
        let c = OpFixtures.cases("muladd")[0]
        let tape = Tape()
        let a = tape.watch(f.tensor(c, "a")), b = tape.watch(f.tensor(c, "b"))
        let y = a * b + b
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "y")
        let g = tape.gradients(of: y, wrt: [a, b], seed: f.tensor(c, "gy"))
        expectClose(g[0], f.tensor(c, "ga"), Tolerance.backward, "da")
        expectClose(g[1], f.tensor(c, "gb"), Tolerance.backward, "db (summed over the broadcast)")
    }

    @Test func permuteMatches() {
        let c = OpFixtures.cases("permute")[0]
        let tape = Tape()
        let x = tape.watch(f.tensor(c, "x"))
        let y = x.permuted(c.params.order!) * c.params.scale!
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "y")
        expectClose(tape.gradients(of: y, wrt: [x], seed: f.tensor(c, "gy"))[0], f.tensor(c, "gx"),
                    Tolerance.backward, "dx")
    }

    @Test func concatMatches() {
        let c = OpFixtures.cases("concat")[0]
        let tape = Tape()
        let parts = ["a", "b", "c"].map { tape.watch(f.tensor(c, $0)) }
        let y = concat(parts, axis: c.params.axis!)
        expectClose(y, f.tensor(c, "y"), Tolerance.forward, "y")
        let g = tape.gradients(of: y, wrt: parts, seed: f.tensor(c, "gy"))
        for (grad, key) in zip(g, ["ga", "gb", "gc"]) { expectClose(grad, f.tensor(c, key), Tolerance.backward, key) }
    }
}
