import CKernels

/// The number format of an inference pass's convolutions.
///
/// `fp32` everywhere by default. `bf16` rounds each convolution's weights (once, when they
/// are packed) and its input activations (as each GEMM packs them) to bfloat16, multiplies with
/// AVX512_BF16 `vdpbf16ps` and accumulates in fp32 (docs/precision.md says which layers and
/// what it costs in accuracy). Only inference: training is fp32.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32, bf16

    /// Why this CPU (or the kernel level NLNET_ISA chose) cannot run `self`, or nil when it can.
    public var unsupportedReason: String? {
        switch self {
        case .fp32:
            return nil
        case .bf16:
            if nl_gemm_bf16_available() != 0 { return nil }
            if KernelLevel.current != "avx512" && KernelLevel.isSupported("avx512") {
                return "bf16 needs the AVX-512 kernels, but NLNET_ISA=\(KernelLevel.current) turned them off"
            }
            return "bf16 needs a CPU with AVX512_BF16 (vdpbf16ps: Intel Cooper Lake, Sapphire Rapids or later, AMD Zen 4 or later); "
                + "this one has not got it (see /proc/cpuinfo flags: avx512_bf16). Use --precision fp32"
        }
    }
}

extension Tensor {
    /// Each element rounded to the nearest bfloat16 (ties to even), kept as Float: what the
    /// bf16 path makes of an operand, for comparing against fp32 arithmetic on the same values.
    public var bf16Rounded: Tensor {
        Tensor(shape: shape, scalars: scalars.map { nl_bf16_round($0) })
    }
}
