// libFuzzer target: a torch.save zip (the zip directory and entries, data.pkl, storages, sizes and
// strides) through CheckpointReader.read(path:), the way `nlnet convert` reads a .pth/.pyth.
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
