// Shared by the libFuzzer targets of `make fuzz-weights` (README, "Fuzzing"): each target is
// this file plus one <reader>_fuzz.swift, compiled with -sanitize=fuzzer,address.
//
// One binary per reader rather than one with a selector byte: each reader keeps its own corpus
// of valid files (a selector byte would make every seed an invalid file), its own coverage
// and its own run of FUZZ_SECONDS, and a finding names its reader by the binary that found it.
#if canImport(Glibc)
import Glibc
#endif

/// The readers take paths: the input is written to one scratch file per process (removed at
/// exit), overwritten for every input.
enum FuzzInput {
    static let path: String = {
        let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        let p = "\(dir)/nlnet-fuzz-\(getpid())-input"
        atexit { unlink(FuzzInput.path) }
        return p
    }()

    /// NLNET_FUZZ_VERBOSE=1: each input's outcome on standard error (for triage, with -runs=0).
    static let verbose = getenv("NLNET_FUZZ_VERBOSE") != nil

    static func report(_ outcome: @autoclosure () -> String) {
        if verbose { let line = outcome() + "\n"; _ = line.withCString { Glibc.write(2, $0, strlen($0)) } }
    }

    static func write(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot write \(path)")
        var done = 0
        while done < size {
            let n = Glibc.write(fd, data + done, size - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
        return path
    }
}

/// A thrown error is the wanted outcome for a bad file only when it is the reader's own error
/// and names the file: anything else (a library's error passed through, a message without the
/// path) is a finding too, reported as a crash so libFuzzer keeps the input.
func expectClearError(_ error: Error, named path: String, as type: Error.Type) {
    FuzzInput.report("error: \(error)")
    if Swift.type(of: error) != type || !"\(error)".hasPrefix(path) {
        fatalError("unclear error (\(Swift.type(of: error)), not \(type) naming \(path)): \(error)")
    }
}
