import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bad tensor file or a missing or mis-shaped tensor, named for the user.
public struct TensorFileError: Error, CustomStringConvertible {
    /// The file the error is about.
    public let path: String
    /// What is wrong, naming the tensor where one is at fault.
    public let message: String
    /// An error about the file at `path`.
    public init(_ path: String, _ message: String) { self.path = path; self.message = message }
    /// "path: message".
    public var description: String { "\(path): \(message)" }
}

/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {String: String}}`,
/// then the raw little-endian data.
///
/// Reading maps the file (MAP_PRIVATE: a tensor written later gets its own copy of the
/// touched pages) and hands F32 tensors out without copying; other float and integer dtypes
/// are converted to Float32.
public struct SafeTensors: Sendable {
    /// The file it was read from.
    public let path: String
    /// The header's `__metadata__` (e.g. "nlnet.config", "format"); empty when the file has none.
    public let metadata: [String: String]
    /// Tensor names in file order.
    public let names: [String]
    private let tensors: [String: Tensor]

    /// Maps and parses the file at `path`. Throws `TensorFileError` when the file cannot be read, its header
    /// is malformed, a dtype is unsupported, or a tensor's bytes fall outside the file.
    public init(contentsOf path: String) throws {
        self.path = path
        let mapping = try MappedFile(path: path)
        let bytes = mapping.bytes
        guard mapping.count >= 8 else { throw TensorFileError(path, "not a safetensors file (\(mapping.count) bytes, shorter than its header length)") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(mapping.count - 8), headerLength < 100 << 20 else {
            throw TensorFileError(path, "not a safetensors file (header length \(headerLength) exceeds the file's \(mapping.count) bytes)")
        }
        let headerData = Data(bytes: bytes + 8, count: Int(headerLength))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw TensorFileError(path, "not a safetensors file (its header is not a JSON object)")
        }
        let dataStart = 8 + Int(headerLength)
        let dataCount = mapping.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: Tensor] = [:]
        var order: [(String, Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw TensorFileError(path, "__metadata__ must map strings to strings") }
                metadata = m
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw TensorFileError(path, "tensor '\(name)': header entry needs dtype, shape and data_offsets") }
            guard let size = SafeTensors.elementSize[dtype] else {
                throw TensorFileError(path, "tensor '\(name)': dtype \(dtype) is not supported (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL are)")
            }
            // The element count checked step by step: a hostile header's product can wrap
            // around (2^40 × 2^30 wraps to 0), so the final product alone proves nothing.
            guard shape.allSatisfy({ $0 >= 0 }), let count = SafeTensors.elementCount(shape), count < 1 << 40 else {
                throw TensorFileError(path, "tensor '\(name)': bad shape \(shape) (negative, or more than 2^40 elements)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataCount, end - begin == count * size else {
                throw TensorFileError(path, "tensor '\(name)': data_offsets [\(begin), \(end)] do not hold \(dtype) \(shape) "
                                          + "(\(count * size) bytes) within the \(dataCount) data bytes")
            }
            let src = bytes + dataStart + begin
            if dtype == "F32" && Int(bitPattern: src) % 4 == 0 {
                let storage = TensorStorage(borrowing: UnsafeMutableRawPointer(src).assumingMemoryBound(to: Float.self),
                                            count: count, owner: mapping)
                tensors[name] = Tensor(shape: shape, storage: storage)
            } else {
                tensors[name] = SafeTensors.convert(src, dtype: dtype, shape: shape)
            }
            order.append((name, begin))
        }
        self.metadata = metadata
        self.tensors = tensors
        names = order.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// The tensor `name` as Float32 (shape as stored), or nil when the file has none.
    public subscript(name: String) -> Tensor? { tensors[name] }

    /// The tensor `name`, or an error naming it (and the expected shape, when given).
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        guard let t = tensors[name] else { throw TensorFileError(path, "missing tensor '\(name)'") }
        if let shape, t.shape != shape {
            throw TensorFileError(path, "tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        return t
    }

    /// The product of `shape`, or nil if it overflows Int (a hostile shape's product can wrap
    /// around: 2^32 × 2^32 is 0 in 64 bits).
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = product
        }
        return count
    }

    static let elementSize: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4,
                                             "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    private static func convert(_ src: UnsafeMutablePointer<UInt8>, dtype: String, shape: [Int]) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let raw = UnsafeRawPointer(src)
        for i in 0..<t.count {
            let v: Float
            switch dtype {
            case "F32": v = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian)
            case "F64": v = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian))
            case "F16": v = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian))
            case "BF16": v = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16)
            case "I64": v = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            case "I32": v = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            case "I16": v = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
            case "I8": v = Float(raw.load(fromByteOffset: i, as: Int8.self))
            default: v = Float(raw.load(fromByteOffset: i, as: UInt8.self))  // U8, BOOL
            }
            t.pointer[i] = v
        }
        return t
    }

    /// Writes `tensors` as F32 in the given order (sorted by name when nil) with `metadata`,
    /// by `OutputFile`'s rule (a regular file through a temporary file renamed into place, so a
    /// reader never sees half a file; `-` to standard output; devices and links in place).
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:],
                             order: [String]? = nil, to path: String) throws {
        let names = order ?? tensors.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for name in names {
            guard let t = tensors[name] else { throw TensorFileError(path, "write: no tensor '\(name)'") }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            let t = tensors[name]!
            t.withUnsafeBufferPointer { out.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        }
        try OutputFile.write(out, to: path)
    }
}

/// A whole file mapped read-only-shared / copy-on-write-private; unmapped when released.
final class MappedFile: @unchecked Sendable {
    let bytes: UnsafeMutablePointer<UInt8>
    let count: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorFileError(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TensorFileError(path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw TensorFileError(path, "not a regular file") }
        count = Int(st.st_size)
        if count == 0 {
            bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
            isMapped = false
            return
        }
        guard let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TensorFileError(path, "cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = p.assumingMemoryBound(to: UInt8.self)
        isMapped = true
    }

    private let isMapped: Bool

    deinit {
        if isMapped { munmap(bytes, count) } else { bytes.deallocate() }
    }
}
