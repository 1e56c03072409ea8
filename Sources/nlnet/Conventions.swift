import ArgumentParser
import Foundation
import NLModels
import NLTensor

/// The command-line conventions every verb follows (README, "Command-line conventions"): how the
/// arguments are read before parsing, and how an error ends the process.
enum Conventions {
    /// Verbs whose product is a folder (`--out`) and verbs whose product is one file
    /// (`-o/--output`). The other spelling is accepted as a hidden alias, so `train -o runs/x`
    /// works instead of failing with "Missing expected argument '--out'".
    static let folderVerbs: Set<[String]> = [["train"], ["eval"], ["synth"], ["ablate"], ["attention"]]
    static let fileVerbs: Set<[String]> = [["convert"], ["forward"], ["decode"], ["features"]]

    /// The verb path at the start of `arguments` (["bench", "model"], ["train"], …).
    static func verbPath(_ arguments: [String]) -> [String] {
        var path: [String] = []
        var command: ParsableCommand.Type = NLNet.self
        for word in arguments {
            guard let sub = command.configuration.subcommands.first(where: { name(of: $0) == word }) else { break }
            path.append(word)
            command = sub
        }
        return path
    }

    /// The arguments with the output option spelt as the verb spells it. Nothing after `--`
    /// is touched (it is data, not options).
    static func normalizeOutputSpelling(_ arguments: [String]) -> [String] {
        let verb = verbPath(arguments)
        let folder = folderVerbs.contains(verb), file = fileVerbs.contains(verb)
        guard folder || file else { return arguments }
        var out: [String] = []
        var literal = false
        for argument in arguments {
            if literal || argument == "--" { literal = true; out.append(argument); continue }
            if folder {
                if argument == "-o" || argument == "--output" { out.append("--out"); continue }
                if argument.hasPrefix("--output=") { out.append("--out=" + argument.dropFirst("--output=".count)); continue }
            } else {
                if argument == "--out" { out.append("--output"); continue }
                if argument.hasPrefix("--out=") { out.append("--output=" + argument.dropFirst("--out=".count)); continue }
            }
            out.append(argument)
        }
        return out
    }

    static func name(of command: ParsableCommand.Type) -> String {
        command.configuration.commandName ?? String(describing: command).lowercased()
    }

    /// "nlnet bench model" for BenchModel.
    static func commandPath(of target: ParsableCommand.Type) -> [String] {
        func search(_ command: ParsableCommand.Type, _ path: [String]) -> [String]? {
            if command == target { return path }
            for sub in command.configuration.subcommands {
                if let found = search(sub, path + [name(of: sub)]) { return found }
            }
            return nil
        }
        return search(NLNet.self, ["nlnet"]) ?? ["nlnet"]
    }

    /// Whether `error`, thrown by a verb's run(), is a mistake in the command line: a
    /// ValidationError, or a config error in the text of --set or --nonlocal.
    static func isUsageError(_ error: Error) -> Bool {
        if error is ValidationError { return true }
        if let e = error as? ConfigError { return e.source.hasPrefix("--") }
        return false
    }

    /// Ends the process for an error thrown by `command`'s run(): a usage error prints that
    /// verb's usage and exits 64, like a usage error found while parsing; any other failure
    /// prints its message and exits 1 (ExitCode keeps its own status).
    static func exit(withError error: Error, from command: ParsableCommand.Type) -> Never {
        guard isUsageError(error) else { NLNet.exit(withError: error) }
        let message = (error as? ValidationError)?.message ?? "\(error)"
        let path = commandPath(of: command).joined(separator: " ")
        FileHandle.standardError.write(Data("""
        Error: \(message)
        Usage: \(NLNet.usageString(for: command))
          See '\(path) --help' for more information.

        """.utf8))
        Foundation.exit(ExitCode.validationFailure.rawValue)
    }

    /// Parses and runs the command line.
    static func main() -> Never {
        let arguments = normalizeOutputSpelling(Array(CommandLine.arguments.dropFirst()))
        var command: ParsableCommand
        do { command = try NLNet.parseAsRoot(arguments) } catch { NLNet.exit(withError: error) }
        do { try command.run() } catch { exit(withError: error, from: type(of: command)) }
        Foundation.exit(0)
    }
}

/// A file named on the command line that cannot be used: a failure (exit status 1), not a
/// usage error — the command line may be right and the file missing.
struct FileError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A file named by `option` must be readable: one error saying why not.
func requireReadable(_ path: String, option: String) throws {
    if let why = unreadableReason(path) { throw FileError("\(option) \(path): \(why)") }
}

/// One failed item of a batch command, on standard error (the batch goes on).
func reportError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}
