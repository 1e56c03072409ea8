import Foundation

/// The inputs of a batch command, handed out one at a time so that work can start before the
/// list is complete: `@-` reads paths from standard input line by line as they arrive (a
/// Spark `RDD.pipe`, Hadoop Streaming or GNU parallel feeding `nlnet`), every other argument
/// is expanded as `InputList.expand` does. With a shard, only every `count`-th input from
/// position `index − 1` on is handed out (positions counted over all inputs, so n processes
/// reading the same stream cover every input once).
public final class PathStream {
    private var arguments: ArraySlice<String>
    private var ready: ArraySlice<InputList.Entry> = []
    private var readingStandardInput = false
    private let readLine: () -> String?
    private let shard: (index: Int, count: Int)?
    private var position = 0

    /// `readLine` gives the next line of standard input (without its newline), nil at its end.
    public init(arguments: [String], shard: (index: Int, count: Int)? = nil,
                readLine: @escaping () -> String? = { Swift.readLine(strippingNewline: true) }) {
        self.arguments = ArraySlice(arguments)
        self.shard = shard
        self.readLine = readLine
    }

    /// A list already expanded (and sharded).
    public init(entries: [InputList.Entry]) {
        arguments = []
        ready = ArraySlice(entries)
        shard = nil
        readLine = { nil }
    }

    /// Whether the arguments read paths from standard input, so the number of inputs is unknown.
    public static func readsStandardInput(_ arguments: [String]) -> Bool { arguments.contains("@-") }

    /// The next input of this shard, nil when there are no more.
    public func next() -> InputList.Entry? {
        while let entry = nextOfAll() {
            defer { position += 1 }
            if let shard, position % shard.count != shard.index - 1 { continue }
            return entry
        }
        return nil
    }

    private func nextOfAll() -> InputList.Entry? {
        while true {
            if let entry = ready.popFirst() { return entry }
            if readingStandardInput {
                guard let line = readLine() else { readingStandardInput = false; continue }
                // As in an @list file: blank lines and # comments are skipped. Relative paths are
                // relative to the working directory (a pipe has no folder of its own).
                let item = line.trimmingCharacters(in: .whitespaces)
                if item.isEmpty || item.hasPrefix("#") { continue }
                return InputList.Entry(path: item, error: nil)
            }
            guard let argument = arguments.popFirst() else { return nil }
            if argument == "@-" { readingStandardInput = true } else { ready = ArraySlice(InputList.expand([argument])) }
        }
    }
}
