import Foundation
import NLTensor
import Testing

@Suite("safetensors")
struct SafeTensorsTests {
    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-\(getpid())-\(name)").path
    }

    @Test func roundTripKeepsValuesShapesAndMetadata() throws {
        let path = temporaryPath("rt.safetensors")
        defer { unlink(path) }
        let a = randomTensor([2, 3, 4], seed: 1), b = Tensor(shape: [], scalars: [7])
        try SafeTensors.write(["a": a, "b": b, "empty": Tensor(zeros: [0, 3])], metadata: ["config": "{\"x\":1}"], to: path)
        let file = try SafeTensors(contentsOf: path)
        #expect(file.metadata["config"] == "{\"x\":1}")
        #expect(try file.tensor("a", shape: [2, 3, 4]).scalars == a.scalars)
        #expect(try file.tensor("b").item == 7)
        #expect(try file.tensor("empty").shape == [0, 3])
    }

    @Test func readsTheReferenceWritersFile() throws {
        // ops.safetensors was written by the Python safetensors package.
        let file = OpFixtures.shared.file
        #expect(file.names.count > 100)
        #expect(file.metadata["cases"] != nil)
    }

    @Test func writingAMappedTensorDoesNotTouchTheFile() throws {
        let path = temporaryPath("cow.safetensors")
        defer { unlink(path) }
        try SafeTensors.write(["a": Tensor(shape: [2], scalars: [1, 2])], to: path)
        var t = try SafeTensors(contentsOf: path).tensor("a")
        t.withUnsafeMutableBufferPointer { $0[0] = 5 }
        #expect(try SafeTensors(contentsOf: path).tensor("a").scalars == [1, 2])
    }

    @Test func errorsNameTheFileAndTheTensor() throws {
        let path = temporaryPath("bad.safetensors")
        defer { unlink(path) }
        try SafeTensors.write(["w": Tensor(zeros: [2, 3])], to: path)
        let file = try SafeTensors(contentsOf: path)
        #expect(throws: TensorFileError.self) { try file.tensor("missing") }
        do { _ = try file.tensor("w", shape: [3, 2]); Issue.record("no error") } catch {
            #expect("\(error)".contains("'w' has shape [2, 3], expected [3, 2]"))
            #expect("\(error)".contains(path))
        }
        for bytes in [[UInt8](), [UInt8](repeating: 0xFF, count: 64), Array("not a safetensors file at all".utf8)] {
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            #expect(throws: TensorFileError.self) { try SafeTensors(contentsOf: path) }
        }
        // A header that claims more data than the file holds.
        let header = Array("{\"t\":{\"dtype\":\"F32\",\"shape\":[1000],\"data_offsets\":[0,4000]}}".utf8)
        var data = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
        data.append(contentsOf: header)
        _ = FileManager.default.createFile(atPath: path, contents: data)
        do { _ = try SafeTensors(contentsOf: path); Issue.record("no error") } catch {
            #expect("\(error)".contains("tensor 't'"))
        }
        #expect(throws: TensorFileError.self) { try SafeTensors(contentsOf: "/nonexistent/x.safetensors") }
    }

    /// Shapes whose element count overflows (2^40 × 2^30 wraps to 0 in 64 bits; 2^62 × 4 to
    /// 0 as well) are refused with the tensor's name, not a trap.
    @Test func overflowingShapesAreRefused() throws {
        let path = temporaryPath("overflow.safetensors")
        defer { unlink(path) }
        for shape in ["[1099511627776, 1073741824]", "[4611686018427387904, 4]", "[3037000500, 3037000500, 2]", "[-1, 2]"] {
            let header = Array("{\"t\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,8]}}".utf8)
            var data = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
            data.append(contentsOf: header)
            data.append(contentsOf: [UInt8](repeating: 0, count: 8))
            _ = FileManager.default.createFile(atPath: path, contents: data)
            do { _ = try SafeTensors(contentsOf: path); Issue.record("\(shape) accepted") } catch {
                #expect("\(error)".contains("tensor 't': bad shape"), "\(shape): \(error)")
            }
        }
    }
}
