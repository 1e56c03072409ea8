import Foundation

/// Decodes the next input on a background queue while the network works on this one: at most
/// two videos' views in memory. The next input is also fetched there, so waiting for a path on
/// standard input never holds back the record of the video before it.
public final class Prefetcher<Decoded>: @unchecked Sendable {
    /// An input and its decoded form, or why it could not be decoded.
    public typealias Item = (entry: InputList.Entry, decoded: Result<Decoded, Error>)
    private let source: () -> InputList.Entry?
    private let decode: (String) throws -> Decoded
    private let queue = DispatchQueue(label: "nlnet.decode")
    private var pending: (DispatchWorkItem, Box)?

    private final class Box: @unchecked Sendable { var item: Item? }

    /// Starts fetching and decoding the first input at once. `source` gives the inputs in order
    /// (nil at the end: a list, or `PathStream` over standard input); `decode` runs on the queue.
    public init(source: @escaping () -> InputList.Entry?, decode: @escaping (String) throws -> Decoded) {
        self.source = source
        self.decode = decode
        pending = start()
    }

    private func start() -> (DispatchWorkItem, Box) {
        let box = Box()
        let work = DispatchWorkItem { [source, decode] in
            guard let entry = source() else { return }
            let decoded: Result<Decoded, Error>
            if let error = entry.error { decoded = .failure(InputError("\(entry.path): \(error)")) }
            else { decoded = Result { try decode(entry.path) } }
            box.item = (entry, decoded)
        }
        queue.async(execute: work)
        return (work, box)
    }

    /// The next input and its decoded video (or why it could not be decoded); nil at the end.
    public func next() -> Item? {
        guard let (work, box) = pending else { return nil }
        work.wait()
        guard let item = box.item else { pending = nil; return nil }
        pending = start()
        return item
    }
}

/// An input that could not be expanded or read (named in the message).
public struct InputError: Error, CustomStringConvertible {
    /// The input and what is wrong with it.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}
