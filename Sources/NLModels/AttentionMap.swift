import NLTensor

/// Where a non-local block looks: its pairwise weights P [B', N, M] as recorded in the forward
/// pass, addressed by positions on the block's feature grid (t, y, x) instead of the folded
/// batch and flattened indices the block computes with.
public struct AttentionMap: Sendable {
    /// The block's weight prefix, e.g. "s4.pathway0_nonlocal3".
    public let block: String
    /// Feature grid of the queries: T, H, W of the block's input.
    public let grid: [Int]
    /// Feature grid the keys live on: H and W halved when subsampled.
    public let keyGrid: [Int]
    /// Which keys each query saw (space-time, space only, time only).
    public let mode: NonLocalMode
    /// Frames per temporal group (0: none): a query sees keys of its own group only.
    public let temporalGroup: Int
    /// The pairwise weights P [B', N, M] (after the softmax): N queries and M keys per row of the folded batch B'.
    public let weights: Tensor   // [B', N, M]

    /// Wraps the weights recorded for `block` on an input of shape [N, T, H, W, C] under `options`.
    public init(block: String, weights: Tensor, input: [Int], options: NonLocalConfig, temporalGroup: Int) {
        self.block = block
        self.weights = weights
        mode = options.mode
        self.temporalGroup = temporalGroup
        grid = Array(input[1...3])
        let pooled = options.subsample != .none
        keyGrid = [grid[0], pooled ? grid[1] / 2 : grid[1], pooled ? grid[2] / 2 : grid[2]]
    }

    /// One key a query attends to.
    public struct Key: Sendable, Equatable {
        /// Position on the key grid.
        public var t: Int, y: Int, x: Int
        /// The query's weight on this key (a row of P sums to 1 for the softmax instantiations).
        public var weight: Float
    }

    /// Every key the query at (t, y, x) of clip 0 sees, with its weight.
    public func keys(t: Int, y: Int, x: Int) -> [Key] {
        let (T, H, W) = (grid[0], grid[1], grid[2])
        let (kH, kW) = (keyGrid[1], keyGrid[2])
        require(t >= 0 && t < T && y >= 0 && y < H && x >= 0 && x < W, "AttentionMap: query (\(t), \(y), \(x)) outside the grid \(grid)")
        // The folded batch row and the query's index within it, and the keys' positions.
        let batch: Int, query: Int
        let keyPositions: [(Int, Int, Int)]
        switch mode {
        case .spacetime where temporalGroup > 0:
            let g = temporalGroup
            batch = t / g
            query = ((t % g) * H + y) * W + x
            keyPositions = (0..<g).flatMap { dt in (0..<kH).flatMap { ky in (0..<kW).map { kx in (batch * g + dt, ky, kx) } } }
        case .spacetime:
            batch = 0
            query = (t * H + y) * W + x
            keyPositions = (0..<T).flatMap { kt in (0..<kH).flatMap { ky in (0..<kW).map { kx in (kt, ky, kx) } } }
        case .space:
            batch = t
            query = y * W + x
            keyPositions = (0..<kH).flatMap { ky in (0..<kW).map { kx in (t, ky, kx) } }
        case .time:
            batch = y * W + x
            query = t
            keyPositions = (0..<T).map { kt in (kt, y, x) }
        }
        let n = weights.shape[1], m = weights.shape[2]
        require(keyPositions.count == m, "AttentionMap: \(keyPositions.count) key positions but the matrix has \(m) keys")
        let base = (batch * n + query) * m
        return weights.withUnsafeBufferPointer { w in
            keyPositions.enumerated().map { j, p in Key(t: p.0, y: p.1, x: p.2, weight: w[base + j]) }
        }
    }
}

extension ResNet3D {
    /// The attention of every non-local block (or only `blocks`) for input x (clip 0).
    public func attentionMaps(_ x: Tensor, blocks: Set<String>? = nil) -> [AttentionMap] {
        final class Box: @unchecked Sendable { var inputs: [String: [Int]] = [:]; var maps: [AttentionMap] = [] }
        let box = Box()
        var options = ForwardOptions()
        let specs = Dictionary(uniqueKeysWithValues: architecture.stages.flatMap(\.blocks).compactMap(\.nonlocal).map { ($0.prefix, $0) })
        options.nonlocalInput = { name, input in box.inputs[name] = input.shape }
        options.attention = { [config] name, p in
            guard blocks?.contains(name) ?? true, let shape = box.inputs[name], let spec = specs[name] else { return }
            box.maps.append(AttentionMap(block: name, weights: p, input: shape, options: config.model.nonlocal,
                                         temporalGroup: spec.temporalGroup))
        }
        _ = predict(x, options: options)
        return box.maps
    }
}
