/// A reverse-mode tape. Operations on tensors that carry a tape append a node holding their
/// backward rule; `gradients(of:wrt:)` replays the nodes in reverse. Tensors without a tape
/// (the inference path) record nothing and pay nothing.
///
/// One tape serves one thread: record a forward pass, take gradients, drop it. Tensors hold
/// their tape weakly, so the caller must keep the tape alive while recording.
public final class Tape: @unchecked Sendable {
    struct Node {
        /// Slots of the inputs on this tape; -1 for an input that needs no gradient.
        let inputs: [Int]
        /// Maps the gradient of the node's output to gradients of its inputs (nil: none).
        /// Leaves have no rule.
        let backward: ((Tensor) -> [Tensor?])?
    }

    private var nodes: [Node] = []

    /// An empty tape; keep it alive while recording (tensors hold it weakly).
    public init() {}

    /// Number of recorded nodes (leaves included).
    public var count: Int { nodes.count }

    /// `tensor` as a leaf whose gradient is wanted.
    public func watch(_ tensor: Tensor) -> Tensor {
        var leaf = tensor.detached
        leaf.tape = self
        leaf.slot = append(Node(inputs: [], backward: nil))
        return leaf
    }

    func append(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    /// d(output)/d(each of `sources`), seeded with `seed` (ones when nil: for a scalar loss).
    /// A source the output does not depend on gets zeros.
    public func gradients(of output: Tensor, wrt sources: [Tensor], seed: Tensor? = nil) -> [Tensor] {
        require(output.tape === self, "gradients(of:): the output was not recorded on this tape")
        let seed = seed ?? Tensor(repeating: 1, shape: output.shape)
        require(seed.shape == output.shape,
                     "gradients(of:): seed shape \(seed.shape) differs from output shape \(output.shape)")
        var grads = [Tensor?](repeating: nil, count: output.slot + 1)
        grads[output.slot] = seed.detached
        for slot in stride(from: output.slot, through: 0, by: -1) {
            guard let g = grads[slot], let rule = nodes[slot].backward else { continue }
            grads[slot] = nil
            var inputGrads = rule(g)
            for (index, input) in nodes[slot].inputs.enumerated() where input >= 0 && index < inputGrads.count {
                guard let ig = inputGrads[index].take() else { continue }
                accumulate(ig.detached, into: &grads[input])
            }
        }
        return sources.map { source in
            require(source.tape === self, "gradients(wrt:): a source was not watched on this tape")
            return (source.slot < grads.count ? grads[source.slot] : nil) ?? Tensor(zeros: source.shape)
        }
    }

    /// sum += b, or sum = b when there is none yet. Adds in place into whichever of the two
    /// holds its storage alone (a gradient taken out of the list is usually the only holder;
    /// adding into a copy cost a full copy of the tensor per shared input), split over the cores.
    private func accumulate(_ b: Tensor, into sum: inout Tensor?) {
        guard var total = sum.take() else { sum = b; return }
        require(total.shape == b.shape, "gradient shapes \(total.shape) and \(b.shape) differ")
        var other = b
        if !total.isUniquelyReferenced() && other.isUniquelyReferenced() { swap(&total, &other) }
        let count = total.count
        total.withUnsafeMutableBufferPointer { t in
            guard let base = t.baseAddress, count > 0 else { return }
            let (pt, po) = (SharedPointer(base), SharedPointer(other.pointer))
            Parallel.forEach(count, grain: 1 << 15) { range in
                addRun(pt + range.lowerBound, po + range.lowerBound, range.count)
            }
        }
        sum = total
    }
}

extension Tensor {
    /// `self` as the output of an operation on `inputs`, with its backward rule recorded when
    /// any input carries a tape. The rule receives the output's gradient and returns one
    /// gradient (or nil) per input; it should skip inputs where `requiresGradient` is false.
    func recorded(inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard let tape = inputs.first(where: { $0.tape != nil })?.tape else { return self }
        require(inputs.allSatisfy { $0.tape == nil || $0.tape === tape },
                     "an operation mixes tensors from two different tapes")
        var result = detached
        result.tape = tape
        result.slot = tape.append(Tape.Node(inputs: inputs.map { $0.tape === tape ? $0.slot : -1 },
                                            backward: backward))
        return result
    }
}
