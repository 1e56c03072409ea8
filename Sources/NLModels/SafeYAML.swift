import Yams

/// `Yams.load` for YAML from files a user was handed, with the checks Yams lacks (each a trap
/// or a hang there, found by `make fuzz-weights`):
/// - Yams composes and constructs recursively: a deeply nested document (20 kB of `[`)
///   overflows the stack. A bound on the nesting is computed from the text before parsing.
/// - Aliases share one node, so aliases of aliases ("billion laughs") or merge keys (`<<`)
///   expand to exponentially many values in the constructed tree. The composed tree is walked
///   without recursion, counting every value an alias repeats, before anything is constructed.
/// - Yams force-unwraps a mapping key as a string: a key that is a list or a mapping
///   (`{[1]: 2}`, `? {a: 1}`) traps.
/// - Yams reads YAML 1.1's base-60 integers (`1:30` is 90) with unchecked arithmetic: eleven
///   parts overflow 64 bits. It does so for scalars that look like integers when loading, and
///   for every plain string that YAMLDecoder is asked to read as a number (`dump` checks those).
public enum SafeYAML {
    /// More than any preset needs (they nest 7 deep and hold about 60 values).
    public static let maxDepth = 64
    /// Most scalars and collections one document may hold once aliases are expanded (a billion-laughs guard).
    public static let maxValues = 100_000
    /// A bound on the nesting the text can produce (see `nestingBound`), far below what overflows
    /// the stack in Yams's recursive parser (about 10,000 levels in an AddressSanitizer build).
    public static let maxTextNesting = 1_000

    /// The document's value (nil for an empty document), or a ConfigError naming `source`.
    public static func load(_ text: String, source: String) throws -> Any? {
        func fail(_ message: String) -> ConfigError { ConfigError(source: source, keyPath: "", message: "not valid YAML: \(message)") }
        guard nestingBound(text) <= maxTextNesting else {
            throw fail("nested too deeply (more than \(maxTextNesting) levels of brackets or indentation)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw fail("\(error)") }
        guard let root else { return nil }
        var pending: [(node: Node, depth: Int)] = [(root, 1)]
        var values = 0
        while let (node, depth) = pending.popLast() {
            values += 1
            guard values <= maxValues else { throw fail("more than \(maxValues) values (aliases that repeat aliases?)") }
            guard depth <= maxDepth else { throw fail("nested more than \(maxDepth) levels deep\(line(node))") }
            switch node {
            case .scalar(let scalar):
                if sexagesimalOverflows(scalar.string) { throw fail(tooLarge(scalar.string) + line(node)) }
            case .sequence(let items): pending += items.map { ($0, depth + 1) }
            case .mapping(let pairs):
                for (key, value) in pairs {
                    guard case .scalar = key else { throw fail("a mapping key that is a list or a mapping\(line(key))") }
                    pending.append((value, depth + 1))
                }
            }
        }
        return root.any
    }

    static func line(_ node: Node) -> String { node.mark.map { " (line \($0.line))" } ?? "" }

    static func tooLarge(_ text: String) -> String {
        "'\(text.prefix(40))' reads as a base-60 number (YAML 1.1: 1:30 is 90) too large for 64 bits"
    }

    /// `Yams.dump` of a tree about to be decoded with YAMLDecoder, which reads integers from
    /// plain strings as well: a string it would read as a base-60 number beyond 64 bits is a
    /// ConfigError naming its key path (under `keyPrefix`), as is a tree Yams cannot write.
    public static func dump(_ tree: Any, source: String, keyPrefix: String = "") throws -> String {
        var pending: [(value: Any, path: String)] = [(tree, keyPrefix)]
        func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        while let (value, path) = pending.popLast() {
            switch value {
            case let text as String:
                if sexagesimalOverflows(text) { throw ConfigError(source: source, keyPath: path, message: tooLarge(text)) }
            case let map as [String: Any]: pending += map.map { ($0.value, child(path, $0.key)) }
            case let map as [AnyHashable: Any]: pending += map.map { ($0.value, child(path, "\($0.key)")) }
            case let list as [Any]: pending += list.enumerated().map { ($0.element, child(path, String($0.offset))) }
            default: break
            }
        }
        do { return try Yams.dump(object: tree) } catch {
            throw ConfigError(source: source, keyPath: keyPrefix, message: "cannot be written as YAML: \(error)")
        }
    }

    /// Whether Yams's integer reading of `text` overflows: its arithmetic mirrored with overflow
    /// checks, for Int and UInt64 (`_` removed; a sign; radix prefixes `0x`, `0b`, `0o`, `0` take
    /// another path; then the `:`-separated parts that parse as decimal, last part first, each
    /// times 60 to the power of its place).
    public static func sexagesimalOverflows(_ text: String) -> Bool {
        guard text.contains(":") else { return false }
        let s = text.replacingOccurrences(of: "_", with: "")
        let negative = s.hasPrefix("-")
        let body = s.dropFirst(negative || s.hasPrefix("+") ? 1 : 0)
        guard !body.hasPrefix("0") else { return false }
        func overflows<T: FixedWidthInteger>(_: T.Type) -> Bool {
            var base: T = 1, value: T = 0
            for digit in body.components(separatedBy: ":").compactMap({ T($0, radix: 10) }).reversed() {
                let (term, o1) = digit.multipliedReportingOverflow(by: base)
                let (sum, o2) = value.addingReportingOverflow(term)
                let (next, o3) = base.multipliedReportingOverflow(by: 60)
                if o1 || o2 || o3 { return true }
                (value, base) = (sum, next)
            }
            return negative && T.isSigned && value == T.min
        }
        return overflows(Int.self) || (!negative && overflows(UInt64.self))
    }

    /// An upper bound on how deep the text's collections can nest, without parsing it: every
    /// `[` and `{` (quoted or not), plus for each line two levels per column of indentation and
    /// per block indicator (`- `, `? `, `: `) on it (a block collection nests only by indenting
    /// further, or once at the same column for a sequence under a key, or compactly on one line).
    public static func nestingBound(_ text: String) -> Int {
        var brackets = 0, block = 0
        var indent = 0, indicators = 0, atLineStart = true
        var previous: UInt8 = 0
        func endLine() {
            if previous == UInt8(ascii: "-") || previous == UInt8(ascii: "?") || previous == UInt8(ascii: ":") { indicators += 1 }
            block = max(block, 2 * (indent + 1 + indicators))
            indent = 0; indicators = 0; atLineStart = true
        }
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "\n"): endLine(); previous = c; continue
            case UInt8(ascii: " ") where atLineStart: indent += 1
            case UInt8(ascii: "["), UInt8(ascii: "{"): brackets += 1; atLineStart = false
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if previous == UInt8(ascii: "-") || previous == UInt8(ascii: "?") || previous == UInt8(ascii: ":") { indicators += 1 }
            default: atLineStart = false
            }
            previous = c
        }
        endLine()
        return brackets + block
    }
}
