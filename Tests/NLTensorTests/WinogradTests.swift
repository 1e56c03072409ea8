import NLTensor
import Testing

/// Winograd for 1×3×3 convs of stride 1 and padding (0, 1, 1), F(2×2, 3×3), and 3×1×1 convs of
/// stride 1 and padding (1, 0, 0), F(2, 3) along time (Sources/CKernels/winograd.c): against
/// the OpenBLAS im2col conv (which OpParityTests checks against PyTorch), with the epilogue
/// fused; the conv3d fixtures of such geometries check it against PyTorch directly
/// (PackedGEMMTests: winograd_k133_odd, winograd_k311_t9).
@Suite("Winograd convolution")
struct WinogradTests {
    static let available = PackedMatrix.isAvailable

    @Test(.enabled(if: available), arguments: [
        // Odd frame sizes (tiles past the last row and column); channels that are not a multiple
        // of 16 (masked lanes) or of 32 (a partial panel); several panels; one pixel; many tiles
        // (several blocks per task, a last partial micro-panel); two images.
        ([1, 1, 5, 7, 20], 40),
        ([2, 3, 8, 8, 16], 16),
        ([1, 2, 9, 11, 64], 300),
        ([1, 1, 1, 1, 8], 24),
        ([1, 3, 30, 31, 16], 32),
        ([1, 1, 14, 14, 256], 256),
        ([2, 2, 7, 7, 130], 72),
    ])
    func spatialMatchesIm2col(_ shape: [Int], _ cout: Int) {
        check(shape, cout, kernel: [1, 3, 3], padding: [0, 1, 1])
    }

    @Test(.enabled(if: available), arguments: [
        // F(2, 3) along time (run from 8 frames on): an odd frame count (the last tile's second
        // frame is past the clip), two images, res2's 8 frames at 64 channels (many blocks),
        // channels off 16 and 32.
        ([1, 9, 3, 4, 20], 40),
        ([2, 8, 5, 5, 33], 64),
        ([1, 8, 14, 14, 64], 64),
        ([1, 11, 3, 3, 130], 300),
    ])
    func temporalMatchesIm2col(_ shape: [Int], _ cout: Int) {
        check(shape, cout, kernel: [3, 1, 1], padding: [1, 0, 0])
    }

    func check(_ shape: [Int], _ cout: Int, kernel: [Int], padding: [Int]) {
        let x = randomTensor(shape, seed: 31), w = randomTensor(kernel + [shape[4], cout], seed: 32, scale: 0.2)
        let b = randomTensor([cout], seed: 33)
        let stride = [1, 1, 1]
        let residual = randomTensor([shape[0], shape[1], shape[2], shape[3], cout], seed: 34)
        let packed = PackedConvWeight(w, precision: .fp32, geometry: ConvGeometry(kernel: kernel, stride: stride, padding: padding))
        #expect(packed.usesWinograd)
        for relu in [false, true] {
            let reference = conv3dFused(x, weight: w, bias: b, stride: stride, padding: padding, residual: residual, relu: relu)
            let y = conv3dFused(x, weight: w, bias: b, stride: stride, padding: padding, residual: residual, relu: relu,
                                packed: packed)
            expectClose(y, reference, Tolerance.forward, "\(shape) → \(cout), relu \(relu)")
            // The same conv added into the residual's own storage.
            var into = Tensor(shape: residual.shape, scalars: residual.scalars)
            let accumulated = conv3dFused(x, weight: w, bias: b, stride: stride, padding: padding, accumulatingInto: &into,
                                          relu: relu, packed: packed)
            expectClose(accumulated, reference, Tolerance.forward, "\(shape) → \(cout), relu \(relu), in place")
        }
    }

    @Test(.enabled(if: available))
    func otherGeometriesKeepTheDirectProduct() {
        let w = randomTensor([1, 3, 3, 16, 16], seed: 35)
        for (stride, padding) in [([1, 2, 2], [0, 1, 1]), ([1, 1, 1], [0, 0, 0]), ([1, 1, 1], [1, 1, 1])] {
            let packed = PackedConvWeight(w, precision: .fp32, geometry: ConvGeometry(kernel: [1, 3, 3], stride: stride, padding: padding))
            #expect(!packed.usesWinograd, "stride \(stride) padding \(padding)")
        }
        let temporal = randomTensor([3, 1, 1, 16, 16], seed: 38)
        for (stride, padding) in [([2, 1, 1], [1, 0, 0]), ([1, 1, 1], [0, 0, 0]), ([1, 2, 2], [1, 0, 0])] {
            let packed = PackedConvWeight(temporal, precision: .fp32,
                                          geometry: ConvGeometry(kernel: [3, 1, 1], stride: stride, padding: padding))
            #expect(!packed.usesWinograd, "3×1×1 stride \(stride) padding \(padding)")
        }
        // bf16 keeps its own GEMM (Winograd here is fp32 only).
        if Precision.bf16.unsupportedReason == nil {
            #expect(!PackedConvWeight(temporal, precision: .bf16,
                                      geometry: ConvGeometry(kernel: [3, 1, 1], padding: [1, 0, 0])).usesWinograd)
        }
        // res5's 512 channels: a block of tiles would be one micro-panel (bench kernels: 0.77× the direct product).
        #expect(!PackedConvWeight(randomTensor([1, 3, 3, 512, 512], seed: 37), precision: .fp32,
                                  geometry: ConvGeometry(kernel: [1, 3, 3], stride: [1, 1, 1], padding: [0, 1, 1])).usesWinograd)
        #expect(!PackedConvWeight(randomTensor([3, 3, 3, 16, 16], seed: 36), precision: .fp32,
                                  geometry: ConvGeometry(kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1])).usesWinograd)
    }
}
