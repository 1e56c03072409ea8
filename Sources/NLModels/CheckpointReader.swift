import Foundation
import NLTensor
import ZIPFoundation

/// The tensors of a checkpoint file, by its own names, in the file's own layouts, plus the
/// entries that were not tensors.
public struct RawCheckpoint {
    /// The container: an official Caffe2 pickle (.pkl) or a torch.save zip (.pyth, .pth, .pt).
    public enum Format: String, Sendable { case caffe2 = "Caffe2 pickle", torch = "PyTorch zip" }
    /// Which of the two the bytes were.
    public var format: Format
    /// Every tensor, by the file's own name, as Float32 in the file's layout (e.g. conv (O, I, kT, kH, kW)).
    public var tensors: [String: Tensor]
    /// Names in file order.
    public var order: [String]
    /// Entries skipped with the reason (e.g. "lr": "not a tensor").
    public var skipped: [(String, String)]
    /// Top-level keys of a torch checkpoint (model_state, state_dict, …).
    public var topLevelKeys: [String]
}

/// Reads the official checkpoint containers into raw tensors, for `CheckpointConverter`.
public enum CheckpointReader {
    /// Reads a Caffe2 .pkl or a torch.save zip (.pyth, .pth, .pt), whichever the bytes are.
    public static func read(path: String) throws -> RawCheckpoint {
        if let why = unreadableReason(path) { throw ModelError("\(path): cannot open: \(why)") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ModelError("\(path): cannot open") }
        let head = handle.readData(ofLength: 4)
        try? handle.close()
        do {
            if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try readTorchZip(path) }
            if head.first == 0x80 || head.first == 0x28 || head.first == 0x7D { return try readCaffe2Pickle(path) }
            throw ModelError("not a Caffe2 pickle or a torch.save zip archive")
        } catch let e as PickleError {
            throw ModelError("\(path): \(e.message)")
        } catch let e as ModelError {
            throw ModelError(e.message.hasPrefix(path) ? e.message : "\(path): \(e.message)")
        } catch {
            throw ModelError("\(path): \(error)")
        }
    }

    /// The product of `shape`, or nil if it overflows Int (one rule for every weights reader).
    static func elementCount(_ shape: [Int]) -> Int? { SafeTensors.elementCount(shape) }

    // MARK: Caffe2

    /// `{'blobs': {name: ndarray}}` or a bare `{name: ndarray}`, pickled with protocol 2.
    static func readCaffe2Pickle(_ path: String) throws -> RawCheckpoint {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe))
        let root = try PickleReader.load(bytes)
        guard var pairs = root.pairs else { throw ModelError("the pickle holds \(root), not a dict of blobs") }
        if let blobs = pairs.first(where: { key($0.0) == "blobs" })?.1.pairs { pairs = blobs }
        var tensors: [String: Tensor] = [:], order: [String] = [], skipped: [(String, String)] = []
        for (k, v) in pairs {
            guard let name = key(k) else { continue }
            if name.hasSuffix("_momentum") || name == "lr" || name == "model_iter" {
                skipped.append((name, "training state")); continue
            }
            if let t = try ndarray(v, name: name) { tensors[name] = t; order.append(name) }
            else { skipped.append((name, "not an array")) }
        }
        return RawCheckpoint(format: .caffe2, tensors: tensors, order: order, skipped: skipped, topLevelKeys: [])
    }

    static func key(_ v: PickleValue) -> String? {
        if let s = v.string { return s }
        if case .bytes(let b) = v { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    /// numpy's `_reconstruct(ndarray, (0,), b'b')` + `__setstate__((version, shape, dtype, fortran, data))`.
    static func ndarray(_ v: PickleValue, name: String) throws -> Tensor? {
        guard case .object(.global(let module, "_reconstruct"), _, let state?, _) = v, module.hasPrefix("numpy") else { return nil }
        guard let s = state.tuple, s.count == 5, let shapeValues = s[1].tuple, let fortran = s[3].int,
              case .object(.global(_, "dtype"), let dtypeArgs, let dtypeState, _) = s[2],
              let code = dtypeArgs.first.flatMap({ key($0) }), let raw = s[4].rawBytes else {
            throw ModelError("blob '\(name)': a numpy array whose state is not (version, shape, dtype, fortran, data)")
        }
        let shape = shapeValues.compactMap(\.int)
        guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }), let count = elementCount(shape), count <= 1 << 34 else {
            throw ModelError("blob '\(name)': bad shape \(shapeValues)")
        }
        let order = dtypeState?.tuple?.dropFirst().first.flatMap { key($0) } ?? "<"
        return try decode(raw, dtype: code, bigEndian: order == ">", shape: shape, fortran: fortran != 0, name: name)
    }

    /// Raw array bytes → Float32 tensor (row-major).
    static func decode(_ raw: [UInt8], dtype: String, bigEndian: Bool, shape: [Int], fortran: Bool, name: String) throws -> Tensor {
        let sizes = ["f4": 4, "f8": 8, "f2": 2, "i8": 8, "i4": 4, "i2": 2, "i1": 1, "u1": 1, "b1": 1]
        guard let size = sizes[dtype] else { throw ModelError("blob '\(name)': dtype '\(dtype)' is not supported") }
        guard shape.allSatisfy({ $0 >= 0 }), let count = elementCount(shape), count <= 1 << 34 else {
            throw ModelError("blob '\(name)': bad shape \(shape)")
        }
        guard raw.count == count * size else {
            throw ModelError("blob '\(name)': \(raw.count) data bytes for \(dtype) \(shape), which needs \(count * size)")
        }
        var values = [Float](repeating: 0, count: count)
        raw.withUnsafeBytes { p in
            for i in 0..<count {
                func u<T: FixedWidthInteger>(_: T.Type) -> T {
                    let v = p.loadUnaligned(fromByteOffset: i * size, as: T.self)
                    return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
                }
                switch dtype {
                case "f4": values[i] = Float(bitPattern: u(UInt32.self))
                case "f8": values[i] = Float(Double(bitPattern: u(UInt64.self)))
                case "f2": values[i] = Float(Float16(bitPattern: u(UInt16.self)))
                case "i8": values[i] = Float(Int64(bitPattern: u(UInt64.self)))
                case "i4": values[i] = Float(Int32(bitPattern: u(UInt32.self)))
                case "i2": values[i] = Float(Int16(bitPattern: u(UInt16.self)))
                case "i1": values[i] = Float(Int8(bitPattern: p[i]))
                default: values[i] = Float(p[i])
                }
            }
        }
        let t = Tensor(shape: fortran ? Array(shape.reversed()) : shape, scalars: values)
        return fortran && shape.count > 1 ? t.permuted(Array((0..<shape.count).reversed())) : t
    }

    // MARK: torch.save

    /// A zip with `<prefix>/data.pkl` whose persistent ids name `<prefix>/data/<key>` storages.
    static func readTorchZip(_ path: String) throws -> RawCheckpoint {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw ModelError("not a readable zip archive (\(error))")
        }
        guard let pklEntry = archive.first(where: { $0.path.hasSuffix("data.pkl") && $0.type == .file }) else {
            throw ModelError("zip archive without data.pkl: not a torch.save file")
        }
        let prefix = String(pklEntry.path.dropLast("data.pkl".count))
        let fileSize = UInt64((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        func read(_ entry: Entry) throws -> [UInt8] {
            // The sizes in a zip header are claims: at most 16 GiB, and no more than the file can
            // hold (stored) or inflate to (deflate expands 1032:1 at most). Reserving a claimed
            // 16 GiB for a 1 kB file failed the allocation.
            let claimed = entry.uncompressedSize
            guard claimed <= 1 << 34, claimed <= (entry.isCompressed ? fileSize * 1032 : fileSize) else {
                throw ModelError("entry \(entry.path) claims \(claimed) bytes, more than the \(fileSize)-byte file can hold")
            }
            var out = [UInt8]()
            out.reserveCapacity(Int(min(claimed, fileSize)))
            do { _ = try archive.extract(entry, skipCRC32: true) { out += $0 } } catch {
                throw ModelError("entry \(entry.path) cannot be read: \(error)")
            }
            return out
        }
        let root = try PickleReader.load(try read(pklEntry))
        var storages: [String: [UInt8]] = [:]
        func storage(_ key: String) throws -> [UInt8] {
            if let s = storages[key] { return s }
            guard let entry = archive[prefix + "data/" + key] else { throw ModelError("storage '\(key)' is missing from the archive") }
            let bytes = try read(entry)
            storages[key] = bytes
            return bytes
        }
        // The state dict: model_state (PySlowFast), state_dict (mmaction2), model, or the root.
        let topKeys = root.pairs?.compactMap { key($0.0) } ?? []
        var dict = root.pairs ?? []
        for candidate in ["model_state", "state_dict", "model"] {
            if let inner = dict.first(where: { key($0.0) == candidate })?.1.pairs { dict = inner; break }
        }
        var tensors: [String: Tensor] = [:], order: [String] = [], skipped: [(String, String)] = []
        for (k, v) in dict {
            guard let name = key(k) else { continue }
            if name.hasSuffix("num_batches_tracked") { skipped.append((name, "BN step counter")); continue }
            if let t = try torchTensor(v, name: name, storage: storage) { tensors[name] = t; order.append(name) }
            else { skipped.append((name, "not a tensor")) }
        }
        return RawCheckpoint(format: .torch, tensors: tensors, order: order, skipped: skipped, topLevelKeys: topKeys)
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, …)` (or `_rebuild_parameter(tensor, …)`).
    static func torchTensor(_ v: PickleValue, name: String, storage: (String) throws -> [UInt8]) throws -> Tensor? {
        guard case .object(.global("torch._utils", let fn), let args, _, _) = v else { return nil }
        if fn == "_rebuild_parameter" || fn == "_rebuild_parameter_with_state" {
            return try args.first.flatMap { try torchTensor($0, name: name, storage: storage) }
        }
        guard fn == "_rebuild_tensor_v2" || fn == "_rebuild_tensor", args.count >= 4,
              case .persistent(let pid) = args[0], let p = pid.tuple, p.count >= 5,
              case .global(_, let storageType) = p[1], let storageKey = key(p[2]),
              let offset = args[1].int, let sizeValues = args[2].tuple, let strideValues = args[3].tuple else {
            throw ModelError("tensor '\(name)': not a tensor the reader knows (\(v))")
        }
        let dtypes = ["FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "LongStorage": "i8",
                      "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "b1"]
        guard let dtype = dtypes[storageType] else { throw ModelError("tensor '\(name)': storage type \(storageType) is not supported") }
        let size = sizeValues.compactMap(\.int), strides = strideValues.compactMap(\.int)
        guard size.count == sizeValues.count, strides.count == size.count, offset >= 0, size.allSatisfy({ $0 >= 0 }) else {
            throw ModelError("tensor '\(name)': bad size \(sizeValues) or stride \(strideValues)")
        }
        let bytes = try storage(storageKey)
        let itemSize = ["f4": 4, "f8": 8, "f2": 2, "i8": 8, "i4": 4, "i2": 2, "i1": 1, "u1": 1, "b1": 1][dtype]!
        let available = bytes.count / itemSize
        // No more elements than the storage holds: a view that repeats elements (stride 0)
        // could otherwise ask for any amount of memory (2^31 of them from an 8-byte storage).
        guard let count = elementCount(size), count <= available else {
            throw ModelError("tensor '\(name)': size \(size) has more elements than its storage '\(storageKey)' holds (\(available))")
        }
        // Gather the strided view into row-major order, checking every index against the storage.
        var flat = [UInt8](repeating: 0, count: count * itemSize)
        var index = [Int](repeating: 0, count: size.count)
        for i in 0..<count {
            var element = offset
            for d in 0..<size.count { element += index[d] * strides[d] }
            guard element >= 0, element < available else {
                throw ModelError("tensor '\(name)': element \(element) lies outside its storage of \(available)")
            }
            for b in 0..<itemSize { flat[i * itemSize + b] = bytes[element * itemSize + b] }
            var d = size.count - 1
            while d >= 0 { index[d] += 1; if index[d] < size[d] { break }; index[d] = 0; d -= 1 }
        }
        return try decode(flat, dtype: dtype, bigEndian: false, shape: size, fortran: false, name: name)
    }
}
