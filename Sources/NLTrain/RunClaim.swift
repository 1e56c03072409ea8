import Foundation
import NLModels

/// A run of an ablation plan claimed by one process, so that several processes sharing a run
/// store (side by side on one machine, or job-array tasks on a shared filesystem) never train
/// the same run. The claim is a file `claim` in the run's folder, created with O_EXCL (atomic
/// on local filesystems and on NFSv3+), holding "host pid". A claim whose process is gone —
/// same host, no such pid — is stale and taken over; a claim from another host cannot be
/// checked from here and stands until its file is removed.
struct RunClaim {
    let path: String

    enum Outcome {
        case claimed(RunClaim)
        /// Held by a live process (its "host pid").
        case heldBy(String)
    }

    static var owner: String { "\(ProcessInfo.processInfo.hostName) \(getpid())" }

    /// Claims the run in `directory` (created if needed).
    static func acquire(_ directory: URL) throws -> Outcome {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("claim").path
        for _ in 0..<2 {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
            if fd >= 0 {
                let text = owner + "\n"
                _ = text.withCString { write(fd, $0, strlen($0)) }
                close(fd)
                return .claimed(RunClaim(path: path))
            }
            guard errno == EEXIST else { throw ModelError("\(path): cannot create the claim: \(String(cString: strerror(errno)))") }
            let holder = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard isStale(holder) else { return .heldBy(holder) }
            // Two processes may both find it stale: both unlink, and O_EXCL lets one of them in.
            unlink(path)
        }
        return .heldBy(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A claim by a process of this host that no longer exists.
    static func isStale(_ holder: String) -> Bool {
        let parts = holder.split(separator: " ")
        guard parts.count == 2, String(parts[0]) == ProcessInfo.processInfo.hostName, let pid = Int32(parts[1]) else { return false }
        return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    func release() { unlink(path) }
}
