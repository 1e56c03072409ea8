import CKernels
import Foundation

/// A 1×3×3 conv weight [1, 3, 3, Cin, Cout] transformed for Winograd F(2×2, 3×3)
/// (Sources/CKernels/winograd.c; README, "The project's own GEMM"): 16 matrices Cin×Cout,
/// U = G g Gᵀ, packed once per model for the own GEMM's micro-kernel. A conv of stride 1 and
/// padding (0, 1, 1) then makes 2.25× fewer multiply-adds than the direct product.
final class WinogradWeight: @unchecked Sendable {
    let cin: Int, cout: Int
    private let storage: UnsafeMutablePointer<Float>

    /// Transforms `weight` [1, 3, 3, Cin, Cout].
    init(_ weight: Tensor) {
        require(weight.shape.count == 5 && weight.shape.prefix(3) == [1, 3, 3],
                "WinogradWeight: weight \(weight.shape) is not a 1×3×3 conv's [1, 3, 3, Cin, Cout]")
        cin = weight.shape[3]; cout = weight.shape[4]
        storage = .allocate(capacity: max(1, nl_winograd_packed_floats(cin, cout)))
        nl_winograd_pack_weight(weight.pointer, cin, cout, storage)
    }

    deinit { storage.deallocate() }

    /// Whether Winograd runs convs of this weight shape and geometry: fp32 1×3×3 convs of stride
    /// 1 and padding (0, 1, 1), on a CPU with the own GEMM, unless NLNET_WINOGRAD=0; and only
    /// where a block of tiles (V and M in L2) holds at least two micro-panels, so each
    /// transformed weight panel serves 28 tiles or more. `nlnet bench kernels`, NL-I3D R50's
    /// 1×3×3 convs against the direct product in the same rounds: res2 (64 channels) 1.6×, res3
    /// (128) 1.5×, res4 (256) 1.6× faster; res5 (512 channels, 7×7: 14-tile blocks re-reading
    /// its 16 MB of transformed weight, and a third of each tile past the frame) 0.77×.
    static func wanted(weight: [Int], geometry: ConvGeometry) -> Bool {
        guard enabled, weight.count == 5, Array(weight.prefix(3)) == [1, 3, 3],
              nl_winograd_block(weight[3], weight[4]) >= 2 * Int(NL_GEMM_MR) else { return false }
        var shape = nl_conv_shape()
        shape.kernel = (1, 3, 3); shape.stride = (geometry.stride[0], geometry.stride[1], geometry.stride[2])
        shape.padding = (geometry.padding[0], geometry.padding[1], geometry.padding[2])
        shape.dilation = (geometry.dilation[0], geometry.dilation[1], geometry.dilation[2])
        // Any frame size: the rule is about the geometry, the size only has to come out equal.
        (shape.t, shape.h, shape.w, shape.to, shape.ho, shape.wo) = (1, 4, 4, 1, 4, 4)
        return nl_winograd_applies(&shape) != 0
    }

    /// y = conv(x) for `plan` (its geometry as `wanted` accepts), the epilogue run as each
    /// output tile is stored. The cores share the tiles in tasks of about 256 (a few blocks of
    /// the C side's L2-sized blocks), at least one task per core.
    func convolve(_ plan: ConvPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        let shape = plan.kernelShape
        require(withUnsafePointer(to: shape, nl_winograd_applies) != 0 && plan.cin == cin && plan.cout == cout,
                "WinogradWeight: conv \(plan.geometry) on \(plan.cin)→\(plan.cout) channels is not this weight's")
        let total = plan.n * plan.to * withUnsafePointer(to: shape, nl_winograd_tiles), mr = Int(NL_GEMM_MR)
        let tasks = max(Parallel.cores, (total + 255) / 256)
        let chunk = max(mr, ((total + tasks - 1) / tasks + mr - 1) / mr * mr)
        let (px, py) = (SharedPointer(UnsafeMutablePointer(mutating: x)), SharedPointer(y))
        let u = SharedPointer(storage), cout = cout
        Parallel.forEachTask((total + chunk - 1) / chunk) { task in
            let first = task * chunk
            var rows = epilogue.rows(from: 0, width: cout)
            withUnsafePointer(to: shape) { s in
                nl_winograd_conv(s, px.base, first, min(chunk, total - first), u.base, cout, py.base, &rows)
            }
        }
    }

    private static let enabled = ProcessInfo.processInfo.environment["NLNET_WINOGRAD"] != "0"
}
