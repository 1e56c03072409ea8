import Foundation

/// A value the pickle VM builds. Calls (REDUCE, NEWOBJ) and state (BUILD) are kept as data
/// for the caller to interpret: nothing is ever executed.
package indirect enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    case dict([(PickleValue, PickleValue)])
    case global(module: String, name: String)
    /// callable(*args), with the state BUILD gave it and items appended or set later
    case object(callable: PickleValue, args: [PickleValue], state: PickleValue?, items: [(PickleValue, PickleValue)])
    case persistent(PickleValue)
    case mark

    /// A short rendering for error messages: three levels and eight tuple items at most (a
    /// value can hold itself many times over: `(x, x)` of `(x, x)` … doubles with every 2 bytes
    /// of a file, so printing it whole never ends).
    package var description: String { render(levels: 3) }

    private func render(levels: Int) -> String {
        guard levels > 0 else { return "…" }
        switch self {
        case .none: return "None"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .float(let f): return "\(f)"
        case .string(let s): return "'\(s.prefix(40))'"
        case .bytes(let b): return "bytes(\(b.count))"
        case .list(let l): return "list(\(l.count))"
        case .tuple(let t):
            let shown = t.prefix(8).map { $0.render(levels: levels - 1) } + (t.count > 8 ? ["… \(t.count - 8) more"] : [])
            return "(\(shown.joined(separator: ", ")))"
        case .dict(let d): return "dict(\(d.count))"
        case .global(let m, let n): return "\(m.prefix(80)).\(n.prefix(80))"
        case .object(let c, let a, _, _): return "\(c.render(levels: levels - 1))(\(a.count) args)"
        case .persistent(let p): return "persistent(\(p.render(levels: levels - 1)))"
        case .mark: return "MARK"
        }
    }

    var string: String? { if case .string(let s) = self { return s }; return nil }
    var int: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    var tuple: [PickleValue]? {
        switch self {
        case .tuple(let t), .list(let t): return t
        default: return nil
        }
    }
    /// Raw bytes: bytes, a Python 2 str, or Python 3's _codecs.encode(text, 'latin1').
    var rawBytes: [UInt8]? {
        switch self {
        case .bytes(let b): return b
        case .string(let s): return s.unicodeScalars.allSatisfy { $0.value < 256 } ? s.unicodeScalars.map { UInt8($0.value) } : nil
        case .object(.global("_codecs", "encode"), let args, _, _):
            guard let text = args.first?.string else { return nil }
            return text.unicodeScalars.allSatisfy { $0.value < 256 } ? text.unicodeScalars.map { UInt8($0.value) } : nil
        default: return nil
        }
    }
    /// Key–value pairs of a dict or of a dict-like object (OrderedDict).
    var pairs: [(PickleValue, PickleValue)]? {
        switch self {
        case .dict(let d): return d
        case .object(_, _, _, let items): return items
        default: return nil
        }
    }
}

/// A pickle that is malformed, unsupported or over a limit; the checkpoint reader adds the file's name.
package struct PickleError: Error, CustomStringConvertible {
    /// What is wrong, e.g. "stack deeper than 1048576" or "protocol 6 is not supported".
    package let message: String
    /// The message.
    package var description: String { message }
}

/// The subset of the pickle virtual machine that checkpoints use (protocols 0–4), with a
/// bounds check on every read and limits on depth and size, so a hostile file is an error,
/// never a crash or a huge allocation.
package struct PickleReader {
    /// Most values on the VM's stack at once.
    package static let maxStack = 1 << 20
    /// Most memo entries (values a pickle refers back to).
    package static let maxMemo = 1 << 22
    /// Most items in one list, tuple or dict.
    package static let maxContainer = 1 << 24
    /// How deep values may nest (checkpoints: about 6). Every use of a value (printing it in an
    /// error, releasing it) recurses through its levels: a million TUPLE1s in a row, one byte
    /// each, overflowed the stack.
    package static let maxNesting = 1_000

    private let data: [UInt8]
    private var position = 0
    private var stack: [PickleValue] = []
    /// The nesting depth of each stack value (1: no container inside).
    private var depths: [Int] = []
    private var marks: [Int] = []
    private var memo: [Int: (value: PickleValue, depth: Int)] = [:]
    private var allocated = 0

    /// A reader over the bytes of one pickle (an official Caffe2 .pkl checkpoint, docs/checkpoints.md#caffe2-pickles).
    package init(_ data: [UInt8]) { self.data = data }

    /// The value a whole pickle builds; throws `PickleError` on a malformed, unsupported or oversized pickle.
    package static func load(_ data: [UInt8]) throws -> PickleValue {
        var reader = PickleReader(data)
        return try reader.run()
    }

    private func fail(_ message: String) -> PickleError {
        PickleError(message: "pickle: \(message) at byte \(position)")
    }

    private mutating func byte() throws -> UInt8 {
        guard position < data.count else { throw fail("unexpected end of data") }
        defer { position += 1 }
        return data[position]
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= data.count - position else { throw fail("length \(n) runs past the end (\(data.count - position) bytes left)") }
        allocated += n
        guard allocated <= data.count * 2 + (1 << 20) else { throw fail("more data claimed than the file holds") }
        defer { position += n }
        return data[position..<(position + n)]
    }

    private mutating func uint(_ bytes: Int) throws -> Int {
        let b = try take(bytes)
        var v: UInt64 = 0
        for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        guard v <= UInt64(Int.max) else { throw fail("length \(v) too large") }
        return Int(v)
    }

    private mutating func line() throws -> String {
        guard let end = data[position...].firstIndex(of: 0x0A) else { throw fail("unterminated text line") }
        let text = String(decoding: data[position..<end], as: UTF8.self)
        allocated += end - position
        position = end + 1
        return text
    }

    /// Pushes `v`, which nests `depth` levels deep.
    private mutating func push(_ v: PickleValue, depth: Int = 1) throws {
        guard stack.count < PickleReader.maxStack else { throw fail("stack deeper than \(PickleReader.maxStack)") }
        guard depth <= PickleReader.maxNesting else { throw fail("values nested more than \(PickleReader.maxNesting) deep") }
        stack.append(v)
        depths.append(depth)
    }

    private mutating func pop() throws -> PickleValue { try popNested().value }

    private mutating func popNested() throws -> (value: PickleValue, depth: Int) {
        guard let v = stack.popLast(), let depth = depths.popLast() else { throw fail("stack underflow") }
        if case .mark = v { throw fail("MARK where a value was expected") }
        return (v, depth)
    }

    /// The values above the last MARK, and the deepest nesting among them (0 for none).
    private mutating func popMark() throws -> (items: [PickleValue], depth: Int) {
        guard let m = marks.popLast(), m < stack.count else { throw fail("no MARK") }
        let items = Array(stack[(m + 1)...])   // stack[m] is the MARK itself
        let depth = depths[(m + 1)...].max() ?? 0
        stack.removeSubrange(m...)
        depths.removeSubrange(m...)
        return (items, depth)
    }

    private mutating func memoize(_ index: Int) throws {
        guard let top = stack.last, let depth = depths.last else { throw fail("memo of an empty stack") }
        guard memo.count < PickleReader.maxMemo || memo[index] != nil else { throw fail("memo larger than \(PickleReader.maxMemo)") }
        memo[index] = (top, depth)
    }

    private func pairs(_ items: [PickleValue]) throws -> [(PickleValue, PickleValue)] {
        guard items.count % 2 == 0 else { throw fail("odd number of items for a mapping") }
        return stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    private func addItems(_ target: inout PickleValue, _ new: [(PickleValue, PickleValue)]) throws {
        switch target {
        case .dict(var d):
            guard d.count + new.count <= PickleReader.maxContainer else { throw fail("mapping too large") }
            d += new; target = .dict(d)
        case .object(let c, let a, let s, var items):
            items += new; target = .object(callable: c, args: a, state: s, items: items)
        default: throw fail("SETITEM(S) on \(target)")
        }
    }

    private func appendItems(_ target: inout PickleValue, _ new: [PickleValue]) throws {
        switch target {
        case .list(var l):
            guard l.count + new.count <= PickleReader.maxContainer else { throw fail("list too large") }
            l += new; target = .list(l)
        case .object(let c, let a, let s, var items):
            items += new.map { (.none, $0) }; target = .object(callable: c, args: a, state: s, items: items)
        default: throw fail("APPEND(S) on \(target)")
        }
    }

    /// Runs the pickle's opcodes up to STOP and returns the value on top of the stack; throws `PickleError`.
    package mutating func run() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: let proto = try byte(); guard proto <= 5 else { throw fail("protocol \(proto) is not supported") }   // PROTO
            case 0x95: _ = try uint(8)                                          // FRAME
            case 0x2E: return try pop()                                         // STOP
            case 0x28: marks.append(stack.count); try push(.mark)              // MARK
            case 0x4E: try push(.none)                                          // NONE
            case 0x88: try push(.bool(true))                                    // NEWTRUE
            case 0x89: try push(.bool(false))                                   // NEWFALSE
            case 0x4B: try push(.int(Int(try byte())))                          // BININT1
            case 0x4D: try push(.int(try uint(2)))                              // BININT2
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:                                                          // LONG1
                let n = Int(try byte())
                guard n <= 8 else { throw fail("integer of \(n) bytes") }
                let b = try take(n)
                var v: Int64 = 0
                for (i, x) in b.enumerated() { v |= Int64(x) << (8 * Int64(i)) }
                if n > 0 && n < 8 && b.last! & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }
                try push(.int(Int(v)))
            case 0x49:                                                          // INT (text)
                let t = try line()
                if t == "01" { try push(.bool(true)) } else if t == "00" { try push(.bool(false)) }
                else { guard let v = Int(t) else { throw fail("bad INT '\(t)'") }; try push(.int(v)) }
            case 0x4C:                                                          // LONG (text)
                let t = try line().replacingOccurrences(of: "L", with: "")
                guard let v = Int(t) else { throw fail("bad LONG") }
                try push(.int(v))
            case 0x47: try push(.float(Double(bitPattern: UInt64(bigEndianBytes: try take(8)))))  // BINFLOAT
            case 0x46: guard let v = Double(try line()) else { throw fail("bad FLOAT") }; try push(.float(v))
            case 0x55: let n = Int(try byte()); try push(.bytes(Array(try take(n))))     // SHORT_BINSTRING (py2 str)
            case 0x54: let n = try uint(4); try push(.bytes(Array(try take(n))))        // BINSTRING
            case 0x43: let n = Int(try byte()); try push(.bytes(Array(try take(n))))     // SHORT_BINBYTES
            case 0x42: let n = try uint(4); try push(.bytes(Array(try take(n))))        // BINBYTES
            case 0x8E: let n = try uint(8); try push(.bytes(Array(try take(n))))        // BINBYTES8
            case 0x58: let n = try uint(4); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE
            case 0x8C: let n = Int(try byte()); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINUNICODE
            case 0x8D: let n = try uint(8); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE8
            case 0x53: try push(.string(try line()))                            // STRING (text)
            case 0x56: try push(.string(try line()))                            // UNICODE (text)
            case 0x5D: try push(.list([]))                                      // EMPTY_LIST
            case 0x29: try push(.tuple([]))                                     // EMPTY_TUPLE
            case 0x7D: try push(.dict([]))                                      // EMPTY_DICT
            case 0x8F: try push(.list([]))                                      // EMPTY_SET (as a list)
            case 0x6C: let m = try popMark(); try push(.list(m.items), depth: m.depth + 1)                  // LIST
            case 0x74: let m = try popMark(); try push(.tuple(m.items), depth: m.depth + 1)                 // TUPLE
            case 0x64: let m = try popMark(); try push(.dict(try pairs(m.items)), depth: m.depth + 1)       // DICT
            case 0x85: let a = try popNested(); try push(.tuple([a.value]), depth: a.depth + 1)             // TUPLE1
            case 0x86:                                                                                      // TUPLE2
                let b = try popNested(), a = try popNested()
                try push(.tuple([a.value, b.value]), depth: max(a.depth, b.depth) + 1)
            case 0x87:                                                                                      // TUPLE3
                let c = try popNested(), b = try popNested(), a = try popNested()
                try push(.tuple([a.value, b.value, c.value]), depth: max(a.depth, b.depth, c.depth) + 1)
            case 0x61:                                                                                      // APPEND
                let v = try popNested(); let below = try popNested(); var top = below.value
                try appendItems(&top, [v.value]); try push(top, depth: max(below.depth, v.depth + 1))
            case 0x65, 0x90:                                                                                // APPENDS, ADDITEMS
                let m = try popMark(); let below = try popNested(); var top = below.value
                try appendItems(&top, m.items); try push(top, depth: max(below.depth, m.depth + 1))
            case 0x73:                                                                                      // SETITEM
                let v = try popNested(), k = try popNested(); let below = try popNested(); var top = below.value
                try addItems(&top, [(k.value, v.value)]); try push(top, depth: max(below.depth, k.depth + 1, v.depth + 1))
            case 0x75:                                                                                      // SETITEMS
                let m = try popMark(); let below = try popNested(); var top = below.value
                try addItems(&top, try pairs(m.items)); try push(top, depth: max(below.depth, m.depth + 1))
            case 0x63:                                                          // GLOBAL
                let module = try line(), name = try line()
                try push(.global(module: module, name: name))
            case 0x93:                                                          // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let n = name.string, let m = module.string else { throw fail("STACK_GLOBAL needs two strings") }
                try push(.global(module: m, name: n))
            case 0x52:                                                          // REDUCE
                let args = try popNested(), callable = try popNested()
                guard let a = args.value.tuple else { throw fail("REDUCE arguments are not a tuple") }
                try push(.object(callable: callable.value, args: a, state: nil, items: []), depth: max(args.depth, callable.depth) + 1)
            case 0x81, 0x92:                                                    // NEWOBJ, NEWOBJ_EX
                if op == 0x92 { _ = try pop() }
                let args = try popNested(), cls = try popNested()
                try push(.object(callable: cls.value, args: args.value.tuple ?? [], state: nil, items: []),
                         depth: max(args.depth, cls.depth) + 1)
            case 0x62:                                                          // BUILD
                let state = try popNested()
                let (top, depth) = try popNested()
                guard case .object(let c, let a, _, let items) = top else { throw fail("BUILD on \(top)") }
                try push(.object(callable: c, args: a, state: state.value, items: items), depth: max(depth, state.depth + 1))
            case 0x51: let p = try popNested(); try push(.persistent(p.value), depth: p.depth + 1)   // BINPERSID
            case 0x71: try memoize(Int(try byte()))                             // BINPUT
            case 0x72: try memoize(try uint(4))                                 // LONG_BINPUT
            case 0x94: try memoize(memo.count)                                  // MEMOIZE
            case 0x70: guard let i = Int(try line()) else { throw fail("bad PUT") }; try memoize(i)   // PUT
            case 0x68, 0x6A, 0x67:                                              // BINGET, LONG_BINGET, GET
                let i = op == 0x68 ? Int(try byte()) : op == 0x6A ? try uint(4) : (Int(try line()) ?? -1)
                guard let v = memo[i] else { throw fail("memo \(i) was never stored") }
                try push(v.value, depth: v.depth)
            case 0x30: _ = try pop()                                            // POP
            case 0x31: _ = try popMark()                                        // POP_MARK
            case 0x32:                                                          // DUP
                guard let top = stack.last, let depth = depths.last else { throw fail("DUP of an empty stack") }
                try push(top, depth: depth)
            default: throw fail(String(format: "unsupported opcode 0x%02x", op))
            }
        }
    }
}

extension UInt64 {
    init(bigEndianBytes b: ArraySlice<UInt8>) {
        var v: UInt64 = 0
        for x in b { v = v << 8 | UInt64(x) }
        self = v
    }
}
