import NLTensor
import Testing

/// Bad shapes stop the program with one message naming both shapes.
@Suite("Shape errors")
struct PreconditionTests {
    @Test func convChannelMismatchNamesBothShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv3d(Tensor(zeros: [1, 2, 4, 4, 3]), weight: Tensor(zeros: [1, 3, 3, 5, 8]))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("[1, 2, 4, 4, 3]") && text.contains("[1, 3, 3, 5, 8]"), "\(text)")
        }
    }

    @Test func matmulInnerMismatchNamesBothShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = matmul(Tensor(zeros: [2, 3, 4]), Tensor(zeros: [2, 5, 6]))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("[2, 3, 4]") && text.contains("[2, 5, 6]"), "\(text)")
        }
    }

    @Test func addBroadcastMismatchNamesBothShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(zeros: [2, 3]) + Tensor(zeros: [2])
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("[2]") && text.contains("[2, 3]"), "\(text)")
        }
    }
}
