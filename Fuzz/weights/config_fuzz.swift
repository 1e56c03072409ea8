// libFuzzer target: a YAML preset through ModelConfig.parse (Yams, key check, block presets,
// Codable, validation), then what the tools do with a config that loads: the network it
// describes and `nlnet info`'s summary, and its YAML (embedded in saved weights) read back.
import NLModels

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // ModelConfig.load reads the file as UTF-8 and refuses it otherwise.
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    let source = "fuzz.yaml"
    do {
        let config = try ModelConfig.parse(yaml: text, source: source)
        let architecture = Architecture(config.model)
        _ = architecture.parameterSpecs(config.model)
        _ = ModelSummary.of(architecture, options: config.model, frames: config.input.frames, size: config.input.crop)
        _ = ModelSummary.of(architecture, options: config.model, frames: config.input.frames, size: 224)
        let again = try ModelConfig.parse(yaml: try config.yaml(), source: "\(source) (written back)")
        FuzzInput.report("ok: \(config.name)")
        if again != config { fatalError("the config's YAML reads back as another config:\n\(try! config.yaml())\n\(try! again.yaml())") }
    } catch {
        expectClearError(error, named: source, as: ConfigError.self)
    }
    return 0
}
