import NLTensor
import Testing

/// The ops of the non-local family's blocks (squeeze-excitation, global context, CBAM's gates and channel descriptors): backward
/// rules against central finite differences, with the same probe as GradientCheckTests.
@Suite("Finite-difference gradients: attention-family ops")
struct AttentionFamilyGradientTests {
    let check = GradientCheckTests()

    @Test func sigmoidGradient() {
        check.check("sigmoid", [randomTensor([3, 7], seed: 41, scale: 2)]) { sigmoid($0[0]) }
    }

    @Test func channelGateAndContext() {
        let x = randomTensor([2, 2, 3, 3, 5], seed: 42), s = randomTensor([2, 5], seed: 43)
        check.check("channelBroadcast ×", [x, s]) { channelBroadcast($0[0], $0[1], .multiply) }
        check.check("channelBroadcast +", [x, s]) { channelBroadcast($0[0], $0[1], .add) }
    }

    @Test func positionGateGradient() {
        let x = randomTensor([2, 2, 3, 3, 5], seed: 47), m = randomTensor([2, 2, 3, 3, 1], seed: 48)
        check.check("positionGate", [x, m]) { positionGate($0[0], $0[1]) }
    }

    @Test func channelMeanMaxGradient() {
        check.check("channelMeanMax", [randomTensor([2, 2, 3, 3, 7], seed: 49)]) { channelMeanMax($0[0]) }
    }

    @Test func layerNormGradient() {
        check.check("layerNorm", [randomTensor([4, 6], seed: 44, scale: 2), randomTensor([6], seed: 45), randomTensor([6], seed: 46)]) {
            layerNorm($0[0], scale: $0[1], shift: $0[2])
        }
    }

    /// Forward values by hand: σ(0) = 1/2; a gate multiplies each sample's channels; layer
    /// norm gives mean 0, variance 1 (before γ, β).
    @Test func forwardValues() {
        #expect(sigmoid(Tensor(shape: [1], scalars: [0])).scalars == [0.5])
        let x = Tensor(shape: [2, 1, 1, 2, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
        let gated = channelBroadcast(x, Tensor(shape: [2, 2], scalars: [10, 0, 1, -1]), .multiply)
        #expect(gated.scalars == [10, 0, 30, 0, 5, -6, 7, -8])
        let positionGated = positionGate(x, Tensor(shape: [2, 1, 1, 2, 1], scalars: [2, 0, -1, 0.5]))
        #expect(positionGated.scalars == [2, 4, 0, 0, -5, -6, 3.5, 4])
        #expect(channelMeanMax(Tensor(shape: [2, 3], scalars: [1, 5, 3, -2, -4, 0])).scalars == [3, 5, -2, 0])
        let ln = layerNorm(Tensor(shape: [1, 4], scalars: [1, 2, 3, 4]), scale: Tensor(shape: [4], scalars: [1, 1, 1, 1]),
                           shift: Tensor(zeros: [4])).scalars
        #expect(abs(ln.reduce(0, +)) < 1e-5 && abs(ln.map { $0 * $0 }.reduce(0, +) / 4 - 1) < 1e-3)
    }
}
