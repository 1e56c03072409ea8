// libFuzzer target: the pickle machine through CheckpointReader.read(path:), the way
// `nlnet convert` reads a Caffe2 .pkl (protocols 0-4, numpy arrays rebuilt as tensors). Inputs
// that start like a zip go to the torch reader instead (torchzip_fuzz covers that).
import NLModels
import NLTensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = FuzzInput.write(data, size)
    do {
        let raw = try CheckpointReader.read(path: path)
        var sum: Float = 0
        for name in raw.order { raw.tensors[name]!.withUnsafeBufferPointer { for v in $0 { sum += v } } }
        blackHole(sum)
        FuzzInput.report("ok: \(raw.format.rawValue), tensors \(raw.order.map { "\($0) \(raw.tensors[$0]!.shape)" }), skipped \(raw.skipped.map(\.0))")
    } catch {
        expectClearError(error, named: path, as: ModelError.self)
    }
    return 0
}

@inline(never) func blackHole(_ x: Float) { if x == 1234.5678 { print("") } }
