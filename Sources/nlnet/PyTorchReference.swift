import Foundation
import NLModels

/// A PyTorch reference script (Scripts/bench_*_pytorch.py) running in a child process on the
/// same network: it prints one JSON line when it is ready, then answers each request word
/// written to its standard input with the wall seconds of one run (or {"error": reason}), so
/// its runs can alternate with nlnet's and both sides see the same load on a shared machine.
///
/// The Python is NLNET_TORCH_PYTHON, else python3 from PATH. Without the script, a Python or
/// torch (CI has none), the reference is `unavailable` with the reason, and the bench reports
/// "PyTorch side not run: <reason>" instead of failing.
final class PyTorchReference {
    private let process = Process()
    private let requests = Pipe(), replies = Pipe()
    private var pending = Data()
    /// The child's standard error, kept in a file (a pipe nobody reads could fill and stall
    /// the child while inductor compiles) for the last line of a failure.
    private let errorLog: String
    /// Why there is no reference, or why it stopped answering; nil while it answers.
    private(set) var unavailable: String?
    /// The script's ready line (for bench_infer_pytorch.py --memory, its only line).
    private(set) var ready: [String: Any] = [:]
    /// Per request word, why the script could not run it ({"error": …} replies).
    private(set) var failures: [String: String] = [:]
    /// Wall seconds spent waiting for the child's threads to go idle (see `settle`), and the
    /// replies the child gave.
    private(set) var settleSeconds = 0.0, answered = 0
    /// Those waits in ms per reply, nil before the first reply.
    var meanSettleMs: Double? { answered == 0 ? nil : 1000 * settleSeconds / Double(answered) }

    /// "torch 2.5.1, 2 threads", or why the reference is not running.
    var description: String {
        unavailable.map { "PyTorch side not run: \($0)" } ?? "torch \(ready["torch"] ?? "?"), \(ready["threads"] ?? "?") threads"
    }

    /// Starts `script` (relative to the project) with the config as a JSON file (its keys are
    /// the YAML's, which the reference model reads) followed by `arguments`, and waits for the
    /// ready line (inductor compiles before it).
    init(script: String, config: ModelConfig, arguments: [String]) {
        let directory = FileManager.default.temporaryDirectory.path
        errorLog = "\(directory)/nlnet-torch-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        let configPath = errorLog.replacingOccurrences(of: ".log", with: ".json")
        defer { unlink(configPath) }
        guard let path = ProjectFiles.locate(script) else { unavailable = "\(script) not found"; return }
        do { try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: configPath)) } catch {
            unavailable = "cannot write \(configPath): \(error.localizedDescription)"
            return
        }
        let python = ProcessInfo.processInfo.environment["NLNET_TORCH_PYTHON"] ?? "python3"
        _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
        // A child that dies between requests must not take nlnet down with SIGPIPE: the write
        // then fails with EPIPE, and the reference is reported as stopped.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, path, configPath] + arguments
        process.standardInput = requests
        process.standardOutput = replies
        process.standardError = FileHandle(forWritingAtPath: errorLog) ?? FileHandle.nullDevice
        do { try process.run() } catch {
            unavailable = "cannot start \(python): \(error.localizedDescription)"
            return
        }
        // Torch missing or the network not built: the process ends instead of answering.
        guard let line = readLine(), let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            stop(because: "\(python) \(script) gave no ready line")
            return
        }
        ready = object
    }

    deinit {
        try? requests.fileHandleForWriting.close()
        if process.isRunning || process.processIdentifier != 0 { process.waitUntilExit() }
        unlink(errorLog)
    }

    /// Asks for one run of `request` and waits for it: its wall seconds, or nil (the reason is
    /// in `failures[request]`, or in `unavailable` when the child stopped).
    func time(_ request: String) -> Double? {
        guard unavailable == nil, failures[request] == nil else { return nil }
        guard (try? requests.fileHandleForWriting.write(contentsOf: Data("\(request)\n".utf8))) != nil, let line = readLine() else {
            stop(because: "the PyTorch reference stopped answering")
            return nil
        }
        answered += 1
        if let seconds = Double(line) { return seconds }
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        failures[request] = object?["error"] as? String ?? "unexpected reply '\(line.prefix(200))'"
        return nil
    }

    /// Waits (at most a second) until the child's threads stop using the CPU; the benches call it
    /// before each timed run, outside the timer. PyTorch's OpenMP
    /// workers (libgomp, OMP_WAIT_POLICY unset) spin for a while after each parallel region
    /// before they sleep, so the run timed next (nlnet's) shared the two cores with them: C2D
    /// R50 measured 182–195 ms per clip in alternation against 150–152 ms alone, while PyTorch's
    /// own times did not move. Waiting for them to park times each side on a quiet machine
    /// without changing PyTorch's settings (a passive wait policy would slow its own regions).
    func settle() {
        let start = Date()
        var last = Self.cpuNanoseconds(process.processIdentifier), quiet = 0
        for _ in 0..<200 {
            usleep(5000)
            let now = Self.cpuNanoseconds(process.processIdentifier)
            // Under 10% of one core over two 5 ms looks in a row: its threads are parked (one
            // quiet look can be a spinning thread that the scheduler had put aside).
            quiet = now &- last < 500_000 ? quiet + 1 : 0
            if quiet == 2 { break }
            last = now
        }
        settleSeconds += Date().timeIntervalSince(start)
    }

    /// CPU time of all of `pid`'s threads, from /proc/PID/task/TID/schedstat (nanoseconds on
    /// the CPU, its first field); 0 where /proc has no such files.
    private static func cpuNanoseconds(_ pid: Int32) -> UInt64 {
        let tasks = "/proc/\(pid)/task"
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
        return threads.reduce(0) { total, tid in
            let line = (try? String(contentsOfFile: "\(tasks)/\(tid)/schedstat", encoding: .utf8)) ?? ""
            return total &+ (line.split(separator: " ").first.flatMap { UInt64($0) } ?? 0)
        }
    }

    /// Marks the reference unavailable with `reason` and the last line the child wrote to
    /// standard error (e.g. "ModuleNotFoundError: No module named 'torch'").
    private func stop(because reason: String) {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let log = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
        let last = log.split(separator: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        var status = ""
        if process.terminationReason == .exit && process.terminationStatus != 0 { status = " (exit \(process.terminationStatus))" }
        unavailable = reason + status + (last.map { ": \($0.trimmingCharacters(in: .whitespaces).prefix(300))" } ?? "")
    }

    private func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let more = replies.fileHandleForReading.availableData
            if more.isEmpty { return nil }
            pending.append(more)
        }
    }
}
