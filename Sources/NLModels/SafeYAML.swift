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
public enum SafeYAML {
    /// More than any preset needs (they nest 7 deep and hold about 60 values).
    public static let maxDepth = 64
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
            case .scalar: break
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
