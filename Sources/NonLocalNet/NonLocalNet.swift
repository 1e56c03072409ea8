// The umbrella module: `import NonLocalNet` gives an app everything it needs to decode a
// clip, load a model file and classify (see NonLocalNet.docc), without naming the layers.
@_exported import NLModels
@_exported import NLTensor
@_exported import NLTrain
@_exported import NLVideo
