import ArgumentParser
import NLModels
import NLTensor

/// `--precision` on every verb that runs a network for inference.
struct PrecisionOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Number format of the convolutions: fp32, or bf16 (AVX512_BF16 CPUs; weights rounded once, products accumulated in fp32; "
            + "docs/precision.md).",
        valueName: "fp32|bf16"))
    var precision = Precision.fp32

    func validate() throws {
        if let reason = precision.unsupportedReason { throw ValidationError("--precision \(precision.rawValue): \(reason)") }
    }

    /// Sets the model's inference precision.
    func apply(to model: ResNet3D) throws { try model.usePrecision(precision) }
}

extension Precision: ExpressibleByArgument {}
