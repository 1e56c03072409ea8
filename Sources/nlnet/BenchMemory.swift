import ArgumentParser
import Foundation
import NLModels
import NLTensor

/// Peak memory of one inference view (issue 19's target: nlnet's peak for one 32×256² view at
/// most PyTorch eager's, in the same run). Each side is its own process, so neither peak
/// holds the other's: nlnet measures itself in this process, which has run nothing before
/// the model and its forward; PyTorch runs Scripts/bench_infer_pytorch.py --memory in a child
/// and reports its own peak. Both give the resident set size before the forward (the model,
/// the input and the runtime: Python and torch's libraries on one side) and the peak after.
struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Peak resident memory of one forward (one view), nlnet beside PyTorch eager, each in its own process.",
        discussion: """
        Reports for each side the resident set size before the forward (model, input, runtime), the peak after it \
        (getrusage ru_maxrss) and the increment; the ratios are nlnet / PyTorch. The model is chosen as in bench model; \
        the PyTorch side runs Scripts/bench_infer_pytorch.py --memory with NLNET_TORCH_PYTHON (else python3).
        """)

    @OptionGroup var selection: ModelSelection

    @Option(help: "Frames per clip.")
    var frames = 32

    @Option(help: "Spatial size, height = width.")
    var size = 256

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(name: .customLong("no-pytorch"), help: "Skip the PyTorch reference.")
    var noPyTorch = false

    /// Resident memory of one side, in bytes.
    struct Side: Codable {
        /// Resident now, just before the forward.
        var baselineRSS: Int
        /// The peak before the forward (loading can peak above what stays resident).
        var baselinePeakRSS: Int
        /// The peak after one forward.
        var peakRSS: Int
        /// peakRSS − baselineRSS: what the forward added.
        var forwardRSS: Int

        init(baselineRSS: Int, baselinePeakRSS: Int, peakRSS: Int) {
            // The kernel syncs each thread's RSS count lazily, so "now" can read a few pages
            // above "the peak so far"; a peak is never below what was resident.
            (self.baselineRSS, self.baselinePeakRSS) = (baselineRSS, max(baselinePeakRSS, baselineRSS))
            self.peakRSS = max(peakRSS, self.baselinePeakRSS)
            forwardRSS = self.peakRSS - baselineRSS
        }
    }

    struct Report: Codable {
        var model: String
        var input: [Int]
        var threads: Int
        var nlnet: Side
        /// "torch 2.5.1, 2 threads", or why the PyTorch side did not run.
        var pytorch: String
        var torchEager: Side?
        /// nlnet peak / PyTorch peak: at most 1 meets the target.
        var peakRatio: Double?
        /// nlnet's forward increment / PyTorch's.
        var forwardRatio: Double?
    }

    func validate() throws {
        try OptionRange.clip(frames: frames, size: size)
    }

    func run() throws {
        let model = try selection.modelOrDefault()
        if let problem = model.memoryProblem(batch: 1, frames: frames, size: size, training: false) { throw ValidationError(problem) }
        let x = Tensor(repeating: 0.1, shape: [1, frames, size, size, 3])
        let (baseline, baselinePeak) = (Self.residentBytes(), Self.peakResidentBytes())
        _ = model.predict(x)
        var report = Report(model: model.config.name, input: [frames, size, size, 3], threads: Parallel.cores,
                            nlnet: Side(baselineRSS: baseline, baselinePeakRSS: baselinePeak, peakRSS: Self.peakResidentBytes()),
                            pytorch: "PyTorch side not run: --no-pytorch")
        if !noPyTorch {
            let torch = PyTorchReference(script: "Scripts/bench_infer_pytorch.py", config: model.config,
                                         arguments: [frames, size, Parallel.cores].map(String.init) + ["--memory"])
            report.pytorch = torch.description
            if let b = torch.ready["baselineRSS"] as? Int, let bp = torch.ready["baselinePeakRSS"] as? Int, let p = torch.ready["peakRSS"] as? Int {
                let side = Side(baselineRSS: b, baselinePeakRSS: bp, peakRSS: p)
                report.torchEager = side
                report.peakRatio = Double(report.nlnet.peakRSS) / Double(p)
                report.forwardRatio = Double(report.nlnet.forwardRSS) / Double(max(side.forwardRSS, 1))
                report.pytorch += ", " + (torch.ready["mode"] as? String ?? "eager")
            } else if torch.unavailable == nil {
                report.pytorch = "PyTorch side not run: bench_infer_pytorch.py --memory gave no sizes"
            }
        }
        if json { print(try jsonLine(report)); return }
        print("\(report.model), one view \(frames)×\(size)×\(size), \(Parallel.cores) threads; resident memory, MiB:")
        print("  " + pad("", 16) + pad("before", 10) + pad("peak", 10) + "forward (peak − before)")
        func row(_ name: String, _ s: Side) {
            let mib = { (bytes: Int) in String(format: "%.0f", Double(bytes) / 1_048_576) }
            print("  " + pad(name, 16) + pad(mib(s.baselineRSS), 10) + pad(mib(s.peakRSS), 10) + mib(s.forwardRSS))
        }
        row("nlnet", report.nlnet)
        guard let torch = report.torchEager, let peakRatio = report.peakRatio, let forwardRatio = report.forwardRatio else {
            print(report.pytorch)
            return
        }
        row("torch eager", torch)
        print(String(format: "nlnet / PyTorch: peak %.2f×, forward %.2f× (%@)", peakRatio, forwardRatio, report.pytorch))
    }

    /// Resident set size now, in bytes (/proc/self/statm's second field, in pages; 0 where
    /// there is no /proc).
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    /// The process's peak resident set size so far, in bytes (ru_maxrss: KiB on Linux, bytes
    /// on macOS).
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss * 1024
        #else
        getrusage(RUSAGE_SELF, &usage)
        return usage.ru_maxrss
        #endif
    }
}
