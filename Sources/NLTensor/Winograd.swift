import CKernels
import Foundation

/// A 1×3×3 or 3×1×1 conv weight transformed for Winograd (Sources/CKernels/winograd.c;
/// README, "The project's own GEMM"): F(2×2, 3×3), 16 matrices Cin×Cout, U = G g Gᵀ, for a
/// 1×3×3 conv of stride 1 and padding (0, 1, 1), 2.25× fewer multiply-adds than the direct
/// product; F(2, 3) along time, 4 matrices U = G g, for an inflated 3×1×1 conv of stride 1 and
/// temporal padding 1, 1.5× fewer. Packed once per model for the own GEMM's micro-kernel.
final class WinogradWeight: @unchecked Sendable {
    let cin: Int, cout: Int, products: Int
    private let storage: UnsafeMutablePointer<Float>

    /// Transforms `weight` [1, 3, 3, Cin, Cout] or [3, 1, 1, Cin, Cout].
    init(_ weight: Tensor) {
        let kernel = Array(weight.shape.prefix(3))
        require(weight.rank == 5 && (kernel == [1, 3, 3] || kernel == [3, 1, 1]),
                "WinogradWeight: weight \(weight.shape) is not a 1×3×3 or 3×1×1 conv's [kT, kH, kW, Cin, Cout]")
        cin = weight.shape[3]; cout = weight.shape[4]; products = kernel == [1, 3, 3] ? 16 : 4
        storage = .allocate(capacity: max(1, nl_winograd_packed_floats(Int32(products), cin, cout)))
        nl_winograd_pack_weight(weight.pointer, Int32(products), cin, cout, storage)
    }

    deinit { storage.deallocate() }

    /// Whether Winograd runs convs of this weight shape and geometry: fp32 1×3×3 convs of stride
    /// 1 and padding (0, 1, 1), or 3×1×1 of stride 1 and padding (1, 0, 0), on a CPU with the own
    /// GEMM, unless NLNET_WINOGRAD=0 (or off, false, no); and only where a block of tiles (V and M in L2) holds at
    /// least two micro-panels, so each transformed weight panel serves 28 tiles or more.
    /// `nlnet bench kernels`, NL-I3D R50's 1×3×3 convs against the direct product in the same
    /// rounds: res2 (64 channels) 1.6×, res3 (128) 1.5×, res4 (256) 1.6× faster; res5 (512
    /// channels, 7×7: 14-tile blocks re-reading its 16 MB of transformed weight, and a third of
    /// each tile past the frame) 0.77×.
    static func wanted(weight: [Int], geometry: ConvGeometry) -> Bool {
        guard enabled, weight.count == 5, geometry.kernel == Array(weight.prefix(3)) else { return false }
        var shape = nl_conv_shape()
        shape.kernel = (weight[0], weight[1], weight[2])
        shape.stride = (geometry.stride[0], geometry.stride[1], geometry.stride[2])
        shape.padding = (geometry.padding[0], geometry.padding[1], geometry.padding[2])
        shape.dilation = (geometry.dilation[0], geometry.dilation[1], geometry.dilation[2])
        // Any size: the rule is about the geometry, the size only has to come out equal.
        (shape.t, shape.h, shape.w, shape.to, shape.ho, shape.wo) = (4, 4, 4, 4, 4, 4)
        let products = nl_winograd_products(&shape)
        return nl_winograd_applies(&shape) != 0 && nl_winograd_block(products, weight[3], weight[4]) >= 2 * Int(NL_GEMM_MR)
    }

    /// Whether this conv of the weight goes by Winograd: one of the geometries it was transformed
    /// for, and then F(2×2, 3×3) always; F(2, 3) along time
    /// only over 8 frames or more. The direct product skips the taps in a clip's temporal
    /// padding (10 of 12 over 4 frames), so there F(2, 3) saves 1.25× of the multiply-adds, not
    /// 1.5×, and its transforms cost more than that: `nlnet bench kernels`, NL-I3D R50's 3×1×1
    /// convs against the direct product in the same rounds, res2 (8 frames) 1.11–1.13×, res3
    /// and res4 (4 frames) 0.88–0.98×.
    func runs(_ plan: ConvPlan) -> Bool {
        let shape = plan.kernelShape
        return withUnsafePointer(to: shape, nl_winograd_applies) != 0 && withUnsafePointer(to: shape, nl_winograd_products) == products
            && plan.cin == cin && plan.cout == cout && (products == 16 || plan.to >= 8)
    }

    /// y = conv(x) for `plan` (one that `runs` accepts), the epilogue run as each
    /// output tile is stored. The cores share the tiles in tasks of about 256 (a few blocks of
    /// the C side's L2-sized blocks), at least one task per core.
    func convolve(_ plan: ConvPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        let shape = plan.kernelShape
        require(runs(plan), "WinogradWeight: conv \(plan.geometry) on \(plan.cin)→\(plan.cout) channels is not this weight's")
        let total = plan.n * withUnsafePointer(to: shape, nl_winograd_tiles), mr = Int(NL_GEMM_MR)
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

    /// Off with NLNET_WINOGRAD set to 0, off, false or no (any case).
    private static let enabled = !["0", "off", "false", "no"].contains(ProcessInfo.processInfo.environment["NLNET_WINOGRAD"]?.lowercased())
}
