// libFuzzer target: SafeTensors(contentsOf:) over arbitrary bytes (8-byte header length, the
// JSON header, offsets, shapes, dtypes), then every tensor it hands out is read in full.
import NLTensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = FuzzInput.write(data, size)
    do {
        let file = try SafeTensors(contentsOf: path)
        var sum: Float = 0
        for name in file.names {
            let t = try file.tensor(name, shape: file[name]?.shape)
            t.withUnsafeBufferPointer { for v in $0 { sum += v } }
        }
        blackHole(sum)
        FuzzInput.report("ok: \(file.names.count) tensors \(file.names), metadata \(file.metadata.keys.sorted())")
    } catch {
        expectClearError(error, named: path, as: TensorFileError.self)
    }
    return 0
}

@inline(never) func blackHole(_ x: Float) { if x == 1234.5678 { print("") } }
