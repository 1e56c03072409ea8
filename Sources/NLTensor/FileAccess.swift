import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a file a user named cannot be read: "no such file or directory", "permission denied",
/// "is a directory" — nil when it can be opened for reading. One wording for every reader
/// (configs, lists, weights, checkpoints, options).
public func unreadableReason(_ path: String) -> String? {
    var st = stat()
    guard stat(path, &st) == 0 else { return String(cString: strerror(errno)).lowercased() }
    if st.st_mode & S_IFMT == S_IFDIR { return "is a directory" }
    guard access(path, R_OK) == 0 else { return String(cString: strerror(errno)).lowercased() }
    return nil
}
