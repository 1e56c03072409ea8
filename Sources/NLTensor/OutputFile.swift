import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a command writes a file the user named (`-o PATH`), by one rule for every verb:
/// - `-` is standard output;
/// - a path that exists and is not a regular file — a device (`/dev/null`), a FIFO, a symlink
///   (`/dev/stdout`, or a link the user keeps) — is opened and written in place: renaming over
///   it would replace the device or the link itself with a regular file;
/// - a regular file, or nothing yet, is written to a temporary file beside it and renamed into
///   place, so a reader never sees half a file and a failed write leaves the old one.
public enum OutputFile {
    /// Writes `data` to `path` by the rule above (standard output, in place, or a temporary file renamed
    /// into place). Throws `TensorFileError` when `path` is a directory or cannot be written or replaced.
    public static func write(_ data: Data, to path: String) throws {
        if path == "-" {
            try FileHandle.standardOutput.write(contentsOf: data)
            return
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFDIR: throw TensorFileError(path, "is a directory (a file name is expected)")
            case S_IFREG: break
            default: return try writeInPlace(data, to: path)
            }
        }
        let temporary = path + ".tmp-\(getpid())"
        do {
            try writeInPlace(data, to: temporary, create: true)
            guard rename(temporary, path) == 0 else {
                throw TensorFileError(path, "cannot replace the file: \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    private static func writeInPlace(_ data: Data, to path: String, create: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | (create ? O_CREAT | O_EXCL : 0), 0o644)
        guard fd >= 0 else { throw TensorFileError(path, "cannot write: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try writeAll(data, to: fd, path: path)
    }

    static func writeAll(_ data: Data, to fd: Int32, path: String) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw TensorFileError(path, "cannot write: \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
    }
}

/// A file written as it grows (`--jsonl` records, one per video or window): `-` is standard
/// output; anything else is opened in place and truncated (a device or FIFO stays one). Lines
/// reach the file as they are written, so a reader can follow it.
public final class LineOutput {
    /// The file as given (`-`: standard output).
    public let path: String
    private let fd: Int32

    /// Opens `path` for writing, truncating it (`-`: standard output). Throws `TensorFileError` when it is
    /// a directory or cannot be opened.
    public init(path: String) throws {
        self.path = path
        if path == "-" { fd = STDOUT_FILENO; return }
        var st = stat()
        if stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR { throw TensorFileError(path, "is a directory (a file name is expected)") }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TensorFileError(path, "cannot write: \(String(cString: strerror(errno)))") }
    }

    /// Writes `line` as it is (add the newline yourself); throws `TensorFileError` when the write fails.
    public func write(_ line: String) throws { try OutputFile.writeAll(Data(line.utf8), to: fd, path: path) }

    deinit { if fd != STDOUT_FILENO { close(fd) } }
}
