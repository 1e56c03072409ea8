import Foundation
import NLModels
import NLTensor
import NLTrain
import Testing

@Suite("Aggregation and inputs")
struct ClassifierTests {
    /// Three views of four classes, worked by hand.
    @Test func ensemblesMatchAHandComputation() {
        let views: [[Float]] = [[0.1, 0.6, 0.2, 0.1], [0.3, 0.3, 0.3, 0.1], [0.0, 0.5, 0.1, 0.4]]
        let mean = aggregate(views, .mean), sum = aggregate(views, .sum), max = aggregate(views, .max)
        for (a, b) in zip(mean, [0.4 / 3, 1.4 / 3, 0.6 / 3, 0.6 / 3] as [Float]) { #expect(abs(a - b) < 1e-6) }
        for (a, b) in zip(sum, [0.4, 1.4, 0.6, 0.6] as [Float]) { #expect(abs(a - b) < 1e-6) }
        #expect(max == [0.3, 0.6, 0.3, 0.4])
        let top = topK(mean, k: 3, labels: ["a", "b", "c", "d"])
        #expect(top.map(\.label) == ["b", "c", "d"], "ties (c, d) go to the lower index")
        #expect(top.map(\.rank) == [1, 2, 3])
    }

    @Test func shardsCoverEveryInputOnce() {
        let items = Array(0..<103)
        for n in [1, 2, 3, 7, 200] {
            let shards = (1...n).map { InputList.shard(items, index: $0, count: n) }
            #expect(shards.flatMap { $0 }.sorted() == items, "n = \(n)")
            #expect(Set(shards.flatMap { $0 }).count == items.count)
            #expect(shards == (1...n).map { InputList.shard(items, index: $0, count: n) }, "deterministic")
        }
    }

    /// `@-` hands out each path as soon as its line is read (not after the end of input),
    /// skips blank lines and comments, mixes with other arguments, and shards by position over
    /// all inputs, matching InputList.shard on the same list.
    @Test func pathStreamReadsLinesAsTheyComeAndShards() {
        var lines = ["a.mp4", "", "# comment", "  b.mp4 ", "c.mp4"][...]
        var reads = 0
        let stream = PathStream(arguments: ["first.mp4", "@-", "last.mp4"]) { reads += 1; return lines.popFirst() }
        #expect(stream.next()?.path == "first.mp4" && reads == 0)
        #expect(stream.next()?.path == "a.mp4" && reads == 1, "one line read for one path")
        #expect(stream.next()?.path == "b.mp4" && reads == 4)
        #expect([stream.next(), stream.next(), stream.next()].map { $0?.path } == ["c.mp4", "last.mp4", nil])
        #expect(PathStream.readsStandardInput(["x", "@-"]) && !PathStream.readsStandardInput(["-", "@list"]))

        let all = (0..<11).map { "v\($0).mp4" }
        for n in [1, 3] {
            for k in 1...n {
                var input = all[...]
                let sharded = PathStream(arguments: ["@-"], shard: (k, n)) { input.popFirst() }
                let got = Array(sequence(state: sharded) { $0.next()?.path })
                #expect(got == InputList.shard(all, index: k, count: n), "shard \(k)/\(n)")
            }
        }
    }

    @Test func expandsDirectoriesGlobsAndListFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-inputs-\(getpid())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["b.mp4", "a.MKV", "notes.txt", "sub/c.webm"] {
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data())
        }
        let fromDir = InputList.expand([dir.path]).map { URL(fileURLWithPath: $0.path).lastPathComponent }
        #expect(fromDir == ["a.MKV", "b.mp4", "c.webm"])
        let fromGlob = InputList.expand([dir.path + "/*.mp4"]).map { URL(fileURLWithPath: $0.path).lastPathComponent }
        #expect(fromGlob == ["b.mp4"])
        let list = dir.appendingPathComponent("list.txt").path
        try "# videos\nb.mp4\n\nsub/c.webm\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(InputList.expand(["@" + list]).map(\.path) == [dir.appendingPathComponent("b.mp4").path, dir.appendingPathComponent("sub/c.webm").path])
        #expect(InputList.expand(["@/nonexistent/list.txt"])[0].error != nil)
        #expect(InputList.expand([dir.path + "/*.xyz"])[0].error == "no file matches the pattern")
    }
}
