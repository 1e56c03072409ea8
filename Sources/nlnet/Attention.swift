import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain
import NLVideo

/// Where a non-local block looks (the paper's Figures 1 and 3).
struct Attention: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show where non-local blocks look for chosen query points of one view of a video.",
        discussion: """
        Without --weights or --config, the default model (as for classify). Writes into the --out folder, per block and query, \
        a PNG (the clip's frames in a strip, the query in green, the top keys in red with strength following the weight, \
        and a heat map per frame) and an animated GIF, plus attention.json with every query's top keys in input pixels. \
        Blocks are named as `nlnet info` lists them (res4_nonlocal3); the weights' names (s4.pathway0_nonlocal3) are accepted too.
        """)

    @Argument(help: "The video.")
    var video: String

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @Flag(help: "Allow random weights (--config without --weights): to try the command; an untrained block attends almost uniformly.")
    var allowUntrained = false

    @Option(parsing: .upToNextOption, help: "Blocks by name as `nlnet info` lists them (e.g. res4_nonlocal3), or 'all'.")
    var block: [String] = ["all"]

    @Option(parsing: .upToNextOption, help: "Query points t,y,x: frame of the clip and pixel of the crop.")
    var at: [String] = []

    @Option(help: "Pick this many queries where the attention is most concentrated (per block).")
    var auto: Int?

    @Option(help: "Keys to show per query.")
    var top = 8

    @Option(help: "Enlarge the pictures this many times, pixel for pixel (default: frames at least 160 pixels wide).")
    var zoom: Int?

    @Option(help: "Output folder (for the pictures; not needed with --query-dependence).")
    var out: String?

    @Flag(help: """
        Instead of pictures: how much each block's attention depends on the query \
        (mean Jensen–Shannon divergence between query maps, against shuffled maps; GCNet's claim measured).
        """)
    var queryDependence = false

    @Flag(help: "With --query-dependence: one JSON object per block, one per line.")
    var json = false

    func validate() throws {
        if let zoom, !(1...16).contains(zoom) { throw ValidationError("--zoom must be 1…16, got \(zoom)") }
        if queryDependence { return }
        if out == nil { throw ValidationError("give the output folder with --out (or use --query-dependence)") }
        if at.isEmpty && auto == nil { throw ValidationError("give query points with --at t,y,x or --auto K") }
        for a in at where a.split(separator: ",").compactMap({ Int($0) }).count != 3 {
            throw ValidationError("--at takes t,y,x (three integers), got '\(a)'")
        }
        if let auto, !(1...1000).contains(auto) { throw ValidationError("--auto must be 1…1000 queries, got \(auto)") }
        guard (1...10_000).contains(top) else { throw ValidationError("--top must be 1…10000 keys, got \(top)") }
        for name in block where name != "all" && BlockName.prefix(name) == nil {
            throw ValidationError("--block \(name): not a block name; blocks are named resS_nonlocalI "
                                  + "(stage S, host block I, as `nlnet info` lists them), e.g. res4_nonlocal3")
        }
    }

    struct QueryRecord: Codable {
        struct Point: Codable { var frame: Int; var y: Int; var x: Int; var weight: Float? }
        var block: String
        var query: Point
        var keys: [Point]
        var picture: String
        var animation: String
    }

    func run() throws {
        // An untrained block attends almost uniformly: showing that as "where the block looks"
        // would mislead, so weights are required unless asked.
        let model = try selection.predictionModel(allowUntrained: allowUntrained, verb: "attention").model
        try precision.apply(to: model)
        var views = ViewProtocol(config: model.config)
        views.clips = 1; views.crops = 1
        let classifier = VideoClassifier(model: model, labels: [], views: views)
        let decoded = try classifier.decodeViews(video)
        let clip = decoded.views.tensors[0]                                   // [T, S, S, 3]
        let (frames, size) = (clip.shape[0], clip.shape[1])
        let wanted = block.contains("all") ? nil : Set(block.compactMap(BlockName.prefix))
        let present = model.architecture.stages.flatMap(\.blocks).compactMap(\.nonlocal).map { BlockName.layer($0.prefix) }
        if let wanted, let missing = wanted.map(BlockName.layer).sorted().first(where: { !present.contains($0) }) {
            throw ValidationError("--block \(missing): the model has no such non-local block "
                                  + "(it has \(present.isEmpty ? "none" : present.joined(separator: ", ")))")
        }
        let maps = model.attentionMaps(clip.reshaped([1] + clip.shape), blocks: wanted)
        guard !maps.isEmpty else {
            throw ValidationError("no non-local block in \(model.config.name): attention needs a model with non-local blocks")
        }
        if queryDependence {
            for map in maps {
                let d = map.queryDependence()
                if json { print(try jsonLine(d)) } else {
                    print(String(format: "%@  %6d queries × %5d keys   JS between queries %.4f bits, shuffled %.4f, ratio %.3f",
                                 pad(d.block, 16), d.queries, d.keys, d.betweenQueries, d.shuffled, d.ratio))
                }
            }
            return
        }
        guard let out else { throw ValidationError("give the output folder with --out") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let rgb = AttentionPicture.pixels(clip, normalization: views.normalization)            // T frames of S×S×3
        // --at is in the clip's input pixels: a point outside it is an error, not clamped in
        // silence onto the nearest edge.
        for a in at {
            let v = a.split(separator: ",").compactMap { Int($0) }
            guard (0..<frames).contains(v[0]), (0..<size).contains(v[1]), (0..<size).contains(v[2]) else {
                throw ValidationError("--at \(a): outside the clip (frames 0…\(frames - 1), y and x 0…\(size - 1) in its \(size)² crop)")
            }
        }
        var records: [QueryRecord] = []
        for map in maps {
            let (tf, hf) = (map.grid[0], map.grid[1])
            // Input pixels → feature grid, and back for keys (centres of their cells).
            let queries: [(Int, Int, Int)] = at.isEmpty ? AttentionPicture.concentrated(map, count: auto ?? 1) : at.map { a in
                let v = a.split(separator: ",").compactMap { Int($0) }
                return (min(v[0] * tf / frames, tf - 1), min(v[1] * hf / size, hf - 1), min(v[2] * map.grid[2] / size, map.grid[2] - 1))
            }
            for (n, q) in queries.enumerated() {
                let keys = map.keys(t: q.0, y: q.1, x: q.2).sorted { $0.weight > $1.weight }
                let best = Array(keys.prefix(top))
                let cellQ = Double(size) / Double(hf), cellK = Double(size) / Double(map.keyGrid[1])
                let framesPerSlot = Double(frames) / Double(tf)
                func framePixel(_ t: Int) -> Int { Int((Double(t) + 0.5) * framesPerSlot) }
                let name = "\(BlockName.layer(map.block))_q\(n)"
                let picture = AttentionPicture.composite(rgb, frames: frames, size: size, map: map, query: q, keys: keys, best: best,
                                        cellQ: cellQ, cellK: cellK, framesPerSlot: framesPerSlot)
                let z = zoom ?? max(1, (160 + size - 1) / size)
                try ImageWriter.png("\(out)/\(name).png", rgb: ImageWriter.enlarged(picture.strip, width: picture.width, height: size, factor: z),
                                    width: picture.width * z, height: size * z)
                try ImageWriter.gif("\(out)/\(name).gif", frames: ImageWriter.enlarged(picture.animation, width: size, height: frames * size, factor: z),
                                    count: frames, width: size * z, height: size * z, delayMilliseconds: 250)
                records.append(QueryRecord(
                    block: BlockName.layer(map.block),
                    query: .init(frame: framePixel(q.0), y: Int((Double(q.1) + 0.5) * cellQ), x: Int((Double(q.2) + 0.5) * cellQ), weight: nil),
                    keys: best.map {
                        .init(frame: framePixel($0.t), y: Int((Double($0.y) + 0.5) * cellK), x: Int((Double($0.x) + 0.5) * cellK),
                              weight: $0.weight)
                    },
                    picture: name + ".png", animation: name + ".gif"))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(records).write(to: URL(fileURLWithPath: out).appendingPathComponent("attention.json"))
        print("\(out): \(records.count) queries over \(maps.count) block(s); attention.json, PNG and GIF per query")
    }
}
