import Foundation
import NLTensor
import Testing

/// `nlnet classify @- --jsonl -` and `nlnet features @- --jsonl -`: paths in on standard input,
/// one JSON line out per path as soon as it is done (what Spark's RDD.pipe, Hadoop Streaming
/// and GNU parallel need), and the 0-based shard index of job arrays.
@Suite("Streaming batch inference")
struct StreamingCommandTests {
    static let synthetic = ClassifyCommandTests.root.appendingPathComponent("Clips/synthetic")
    static let videos = ["colours_differ", "colours_match", "left_to_right", "right_to_left"].map { synthetic.appendingPathComponent($0 + ".mp4").path }

    /// The record of the first path arrives while standard input is still open (flushed per
    /// file, not at exit); a missing file is an error record naming it and the rest go on.
    @Test func classifyStreamsOneFlushedLinePerPath() throws {
        let process = try StreamingProcess(["classify", "@-", "--jsonl", "-"] + ClassifyCommandTests.small)
        try process.send(Self.videos[0] + "\n")
        let first = try #require(process.readLine(timeout: 120), "no line for the first path while stdin is open; stderr: \(process.stderr())")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(record["path"] as? String == Self.videos[0] && (record["top"] as? [[String: Any]])?.isEmpty == false, "\(first)")

        try process.send("/no/such/video.mp4\n# a comment\n\n" + Self.videos[1] + "\n")
        process.closeInput()
        let rest = process.remainingLines(timeout: 120)
        let status = process.wait()
        #expect(rest.count == 2, "\(rest)")
        let records = rest.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == 2, "every line is one JSON object: \(rest)")
        #expect(records.first?["path"] as? String == "/no/such/video.mp4" && (records.first?["error"] as? String)?.contains("/no/such/video.mp4") == true)
        #expect(records.last?["path"] as? String == Self.videos[1] && records.last?["top"] != nil)
        #expect(status == 1, "a failed path makes the exit status 1 (without --keep-going)")
        #expect(process.stderr().contains("error: /no/such/video.mp4"), "the failure is also on stderr")

        // --keep-going: the same stream exits 0; an empty stream (an empty Spark partition) is no error.
        let path = try Self.write(["/no/such/video.mp4", Self.videos[2]])
        let kept = try CLI.run(["classify", "@-", "--jsonl", "-", "--keep-going"] + ClassifyCommandTests.small, stdin: path)
        #expect(kept.status == 0 && kept.stdout.split(separator: "\n").count == 2, "\(kept.stderr)")
        let empty = try CLI.run(["classify", "@-", "--jsonl", "-"] + ClassifyCommandTests.small)
        #expect(empty.status == 0 && empty.stdout.isEmpty, "\(empty.stderr)")
    }

    /// features' JSON lines carry the same vectors as its safetensors output for the same videos.
    @Test func featuresStreamTheVectorsTheFileHolds() throws {
        let list = try Self.write(Array(Self.videos.prefix(2)) + ["/no/such/video.mp4"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-stream-features-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = Array(ClassifyCommandTests.small.prefix(5)) + ["--clips", "2"]
        let out = dir.appendingPathComponent("f.safetensors").path
        let r = try CLI.run(["features", "@-", "--jsonl", "-", "-o", out, "--keep-going"] + options, stdin: list)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 3 && lines[2]["error"] != nil && lines[2]["path"] as? String == "/no/such/video.mp4", "\(r.stdout.prefix(400))")
        let matrix = try SafeTensors(contentsOf: out).tensor("features")
        #expect(matrix.shape[0] == 2)
        for (row, line) in lines.prefix(2).enumerated() {
            let streamed = try #require(line["features"] as? [Double])
            let width = matrix.shape[1]
            let stored = Array(matrix.scalars[row * width..<(row + 1) * width])
            #expect(streamed.count == stored.count && zip(streamed, stored).allSatisfy { abs(Float($0) - $1) <= 1e-6 * max(1, abs($1)) },
                    "row \(row) differs between --jsonl and -o")
        }
    }

    /// --shards N --shard-index-env VAR: task i (0-based) of N takes what --shard i+1/N takes;
    /// the tasks cover every input once. A missing or bad variable is a usage error naming it.
    @Test func shardIndexFromTheEnvironment() throws {
        let list = try Self.write(Self.videos)
        var seen: [String] = []
        for index in 0..<2 {
            let r = try CLI.run(["classify", "@-", "--jsonl", "-", "--shards", "2", "--shard-index-env", "JOB_COMPLETION_INDEX"] + ClassifyCommandTests.small,
                                environment: ["JOB_COMPLETION_INDEX": "\(index)"], stdin: list)
            let byFlag = try CLI.run(["classify", "@-", "--jsonl", "-", "--shard", "\(index + 1)/2"] + ClassifyCommandTests.small, stdin: list)
            #expect(r.status == 0 && byFlag.status == 0, "\(r.stderr) \(byFlag.stderr)")
            let paths = Self.paths(r.stdout)
            #expect(paths == Self.paths(byFlag.stdout) && paths.count == 2)
            seen += paths
        }
        #expect(seen.sorted() == Self.videos.sorted(), "two tasks cover every input once")

        let unset = try CLI.run(["classify", "@-", "--shards", "2", "--shard-index-env", "NLNET_TEST_UNSET_INDEX"] + ClassifyCommandTests.small,
                                environment: ["NLNET_TEST_UNSET_INDEX": nil], stdin: list)
        #expect(unset.status == 64 && unset.stderr.contains("NLNET_TEST_UNSET_INDEX") && unset.stderr.contains("not set"), "\(unset.stderr)")
        let bad = try CLI.run(["classify", "@-", "--shards", "2", "--shard-index-env", "SLURM_ARRAY_TASK_ID"] + ClassifyCommandTests.small,
                              environment: ["SLURM_ARRAY_TASK_ID": "2"], stdin: list)
        #expect(bad.status == 64 && bad.stderr.contains("SLURM_ARRAY_TASK_ID") && bad.stderr.contains("0…1"), "\(bad.stderr)")
    }

    static func paths(_ jsonl: String) -> [String] {
        jsonl.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["path"] as? String }
    }

    /// A file of lines, for a process's standard input.
    static func write(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-stream-\(getpid())-\(UUID().uuidString).txt").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// nlnet with a pipe on standard input that the test writes to while reading its output line by
/// line; every read has a timeout, so a process that holds its output back fails the test
/// instead of hanging it.
final class StreamingProcess: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe(), output = Pipe(), errors = Pipe()
    private let lock = NSLock()
    private var buffer = Data(), errorText = Data(), ended = false
    private let arrived = DispatchSemaphore(value: 0)

    init(_ arguments: [String]) throws {
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        output.fileHandleForReading.readabilityHandler = { [unowned self] h in
            let data = h.availableData
            lock.lock()
            if data.isEmpty { ended = true; h.readabilityHandler = nil } else { buffer += data }
            lock.unlock()
            arrived.signal()
        }
        errors.fileHandleForReading.readabilityHandler = { [unowned self] h in
            let data = h.availableData
            lock.lock(); if data.isEmpty { h.readabilityHandler = nil } else { errorText += data }; lock.unlock()
        }
        try process.run()
    }

    func send(_ text: String) throws { try input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }
    func closeInput() { try? input.fileHandleForWriting.close() }

    /// The next line of standard output, nil if none came within `timeout` seconds (the process
    /// is then killed) or output ended.
    func readLine(timeout: Double) -> String? {
        let deadline = DispatchTime.now() + timeout
        while true {
            lock.lock()
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                lock.unlock()
                return line
            }
            let done = ended
            lock.unlock()
            if done { return nil }
            if arrived.wait(timeout: deadline) == .timedOut {
                process.terminate()
                return nil
            }
        }
    }

    func remainingLines(timeout: Double) -> [String] {
        var lines: [String] = []
        while let line = readLine(timeout: timeout) { lines.append(line) }
        return lines
    }

    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    func stderr() -> String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: errorText, as: UTF8.self)
    }
}
