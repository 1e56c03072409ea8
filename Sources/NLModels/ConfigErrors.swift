import Foundation
import NLTensor

/// Config mistakes in the user's words: which text to blame (the file, or the `--set` that put
/// the value there), what a value should have been (never a Swift type name), and the key that
/// was probably meant.
public enum ConfigText {
    /// Why a file cannot be read as text: `unreadableReason`, else "not UTF-8 text".
    public static func unreadableReason(_ path: String) -> String {
        NLTensor.unreadableReason(path) ?? "not UTF-8 text"
    }

    /// The file's text, or a ConfigError saying why it cannot be read.
    public static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(source: path, keyPath: "", message: "cannot read the file: \(unreadableReason(path))")
        }
        return text
    }

    /// What a value of `type` looks like, for "expected …".
    public static func kind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Array") || name.hasPrefix("[") && !name.contains(":") || name.contains("Sequence") { return "a list such as [1, 3]" }
        if name.hasPrefix("Dictionary") || name.contains(":") || name.contains("Mapping") { return "a mapping such as {key: value}" }
        if name.contains("Bool") { return "true or false" }
        if name.contains("Int") { return "a whole number" }
        if name.contains("Double") || name.contains("Float") { return "a number" }
        if name.contains("String") || name.contains("Scalar") { return "a single value" }
        return "another kind of value"
    }

    /// A short rendering of a YAML value for "got …".
    public static func show(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "nothing"
        case let s as String: return "'\(s)'"
        case let m as [String: Any]: return "a mapping {\(m.keys.sorted().joined(separator: ", "))}"
        case let a as [Any]: return "a list of \(a.count)"
        case let v?: return "\(v)"
        }
    }

    /// The value at a dotted key path of a parsed YAML tree.
    public static func value(at keyPath: String, in tree: Any) -> Any? {
        var node: Any? = tree
        for key in keyPath.split(separator: ".") {
            if let map = node as? [String: Any] { node = map[String(key)] }
            else if let list = node as? [Any], let i = Int(key), list.indices.contains(i) { node = list[i] }
            else { return nil }
        }
        return node
    }

    /// Levenshtein distance between two keys.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = row
        }
        return previous[b.count]
    }

    /// The known key closest to `key`, if close enough to be a misspelling.
    public static func suggestion(for key: String, among known: some Collection<String>) -> String? {
        let scored = known.map { ($0, distance(key.lowercased(), $0.lowercased())) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let best = scored.first, best.1 <= max(2, key.count / 3), best.1 < key.count else { return nil }
        return best.0
    }

    /// "unknown key 'widht' (did you mean model.width?; allowed here: …)".
    public static func unknownKey(_ key: String, at parent: String, allowed: Set<String>) -> String {
        let allowedText = "allowed here: \(allowed.sorted().joined(separator: ", "))"
        guard let near = suggestion(for: key, among: allowed) else { return "unknown key '\(key)' (\(allowedText))" }
        return "unknown key '\(key)': did you mean \(parent.isEmpty ? near : "\(parent).\(near)")? (\(allowedText))"
    }

    /// A decoding failure as a ConfigError in plain words; `tree` (the parsed YAML) supplies
    /// the offending value.
    public static func describe(_ error: Error, source: String, tree: Any?, allowedValues: (String) -> String? = { _ in nil }) -> ConfigError {
        guard let error = error as? DecodingError else {
            return ConfigError(source: source, keyPath: "", message: "\(error)")
        }
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        func got(_ keyPath: String) -> String {
            tree.map { ", got \(show(value(at: keyPath, in: $0)))" } ?? ""
        }
        switch error {
        case .typeMismatch(let type, let c):
            let keyPath = path(c.codingPath)
            if let allowed = allowedValues(keyPath) {
                return ConfigError(source: source, keyPath: keyPath, message: "invalid value (allowed: \(allowed))\(got(keyPath))")
            }
            return ConfigError(source: source, keyPath: keyPath, message: "expected \(kind(type))\(got(keyPath))")
        case .valueNotFound(let type, let c):
            return ConfigError(source: source, keyPath: path(c.codingPath), message: "has no value (expected \(kind(type)))")
        case .keyNotFound(let key, let c):
            return ConfigError(source: source, keyPath: path(c.codingPath + [key]), message: "missing (this key is required)")
        case .dataCorrupted(let c):
            let keyPath = path(c.codingPath)
            if let allowed = allowedValues(keyPath) {
                return ConfigError(source: source, keyPath: keyPath, message: "invalid value (allowed: \(allowed))\(got(keyPath))")
            }
            return ConfigError(source: source, keyPath: keyPath, message: "invalid value\(got(keyPath))")
        @unknown default:
            return ConfigError(source: source, keyPath: "", message: "\(error)")
        }
    }
}

/// Which `--set` (or `--nonlocal`) put a value at a key path, so an error about that value
/// blames the command-line text rather than the file.
public struct OverrideBlame: Sendable {
    /// (key path, what the user typed), in order.
    var entries: [(String, String)] = []

    /// Records which override set which key path; `origins` replaces "--set <override>" as each one's name.
    public init(overrides: [String], origins: [String]?) {
        for (i, o) in overrides.enumerated() {
            guard let eq = o.firstIndex(of: "=") else { continue }
            let origin = origins.flatMap { i < $0.count ? $0[i] : nil } ?? "--set \(o)"
            entries.append((String(o[..<eq]), origin))
        }
    }

    /// The error, blamed on the last override at or around its key path, if any.
    public func blame(_ error: ConfigError) -> ConfigError {
        let key = error.keyPath
        guard !key.isEmpty, let (path, origin) = entries.last(where: { p, _ in
            key == p || key.hasPrefix(p + ".") || p.hasPrefix(key + ".")
        }) else { return error }
        return ConfigError(source: origin, keyPath: key == path && origin.hasPrefix("--set ") ? "" : key, message: error.message)
    }
}
