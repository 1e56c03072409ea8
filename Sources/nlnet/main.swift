import Foundation
import NLTensor

for warning in Runtime.configure() { FileHandle.standardError.write(Data("nlnet: warning: \(warning)\n".utf8)) }
Conventions.main()
