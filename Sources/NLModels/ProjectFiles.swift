import Foundation

/// The files the toolkit ships beside its code: the default model, the class lists and the
/// presets under Configs/. An app that embeds the library finds them where `make install` put
/// them or in a checkout of the repository.
public enum ProjectFiles {
    /// A project file (Configs/default_model.safetensors, Configs/labels/…, a preset), looked up
    /// from the working directory, then beside the executable's build folder (.build/release/nlnet
    /// → the package root), then where `make install` puts them: PREFIX/share/nlnet beside the
    /// executable's PREFIX/bin (also when run through a symlink), else /usr/local/share/nlnet or
    /// /usr/share/nlnet (a binary copied elsewhere).
    public static func locate(_ relative: String) -> String? {
        roots.map { ($0 as NSString).appendingPathComponent(relative) }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The folders `locate` searches, in order.
    public static let roots: [String] = {
        let fm = FileManager.default
        // The executable itself (links resolved), and the path it was started by (a symlink in
        // ~/bin to an installed binary, or a name found on PATH).
        let real = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var invoked = CommandLine.arguments[0]
        if !invoked.contains("/"), let found = which(invoked) { invoked = found }
        let started = URL(fileURLWithPath: invoked)
        var roots = [fm.currentDirectoryPath]
        for exe in [real, started.resolvingSymlinksInPath()] {
            let dir = exe.deletingLastPathComponent()
            roots += [dir.deletingLastPathComponent().deletingLastPathComponent().path,
                      dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path]
        }
        for exe in [real, started.resolvingSymlinksInPath(), started.standardizedFileURL] {
            roots.append(exe.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/nlnet").path)
        }
        roots += ["/usr/local/share/nlnet", "/usr/share/nlnet"]
        var seen = Set<String>()
        return roots.filter { seen.insert($0).inserted }
    }()

    /// The shipped default model (an NL-I3D trained on the synthetic benchmark), if found.
    public static var defaultModel: String? { locate("Configs/default_model.safetensors") }

    /// The first executable named `program` on PATH.
    public static func which(_ program: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}
