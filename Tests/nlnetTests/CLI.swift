import Foundation

/// Runs the built `nlnet` (it sits beside the test bundle in .build/<config>/).
struct CLI {
    static let binary: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("nlnet").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("nlnet")
    }()

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    /// Runs nlnet to its end. `stdin`: a file given as standard input (else none: /dev/null).
    static func run(_ arguments: [String], environment: [String: String?] = [:], executable: URL? = nil,
                    directory: URL? = nil, stdin: String? = nil) throws -> Result {
        let process = Process()
        process.standardInput = stdin.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
        process.executableURL = executable ?? binary
        if let directory { process.currentDirectoryURL = directory }
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// The golden text for `name`; with NLNET_UPDATE_GOLDEN=1 the file is rewritten instead.
    static func golden(_ name: String, actual: String) throws -> String {
        let url = goldenDirectory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["NLNET_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: goldenDirectory, withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
