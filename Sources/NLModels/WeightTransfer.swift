import NLTensor

extension ResNet3D {
    /// Fine-tuning's start: copies every tensor of `source` whose name and shape match this
    /// network's, and keeps this network's own (fresh) initialisation for the rest, e.g. a
    /// head for another class count or blocks the source does not have. Returns the names
    /// initialised afresh, in the network's parameter order.
    @discardableResult
    public func transferWeights(from source: ResNet3D) throws -> [String] {
        var weights = self.weights
        var fresh: [String] = []
        for spec in specs {
            if let w = source.weights[spec.name], w.shape == spec.shape { weights[spec.name] = w } else { fresh.append(spec.name) }
        }
        try replaceWeights(weights)
        return fresh
    }
}
