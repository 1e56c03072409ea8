import Foundation

/// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise.
/// With no total (inputs streamed from standard input) it counts without a bar or ETA.
final class ProgressLine {
    private let total: Int?
    /// What is counted ("views"), named in the lines without a total.
    private let unit: String
    private let quiet: Bool
    private let terminal = isatty(STDERR_FILENO) != 0
    private let start = Date()
    private var lastLine = Date.distantPast
    private var done = 0

    init(total: Int?, quiet: Bool, unit: String = "units") {
        self.total = total
        self.unit = unit
        self.quiet = quiet || total == 0
    }

    /// `completed` units of `total` done; `detail` says what is under way.
    func update(completed: Int, detail: String) {
        guard !quiet else { return }
        done = completed
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(completed) / elapsed : 0
        guard let total else {
            if Date().timeIntervalSince(lastLine) >= 5 {
                lastLine = Date()
                FileHandle.standardError.write(Data(String(format: "progress: %d %@ done · %.2f/s %@\n", completed, unit, rate, detail).utf8))
            }
            return
        }
        let eta = rate > 0 ? Double(total - completed) / rate : 0
        let stats = String(format: "%d/%d · %.2f/s · ETA %@", completed, total, rate, format(eta))
        if terminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(ProgressLine.bar(completed, of: total)) \(stats) \(detail)".utf8))
        } else if Date().timeIntervalSince(lastLine) >= 5 || completed == total {
            lastLine = Date()
            FileHandle.standardError.write(Data("progress: \(stats) \(detail)\n".utf8))
        }
    }

    /// `[████····]`: `done` of `total` in 24 cells.
    static func bar(_ done: Int, of total: Int) -> String {
        let width = 24, filled = total > 0 ? min(width, width * done / total) : 0
        return "[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "]"
    }

    func finish() {
        guard !quiet, terminal, total != nil else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
