import Foundation
import NLTrain
import NLVideo
import TestSupport
import Testing

/// The dataset layouts users bring, each read from a small generated tree.
@Suite("Dataset layouts")
struct DatasetLayoutTests {
    let root: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-layouts-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    func write(_ text: String, _ relative: String) throws {
        let path = (root as NSString).appendingPathComponent(relative)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func video(_ relative: String, seconds: Double = 0.4) throws {
        let path = (root as NSString).appendingPathComponent(relative)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try ExternalTool.lavfiClip("testsrc2=size=64x48:rate=10", seconds: seconds, to: path)
    }

    func path(_ relative: String) -> String { (root as NSString).appendingPathComponent(relative) }

    @Test func classPerFolderTree() throws {
        try video("data/train/walking/a.mp4"); try video("data/train/walking/b.mp4"); try video("data/train/abseiling/c.mp4")
        try FileManager.default.createDirectory(atPath: path("data/train/abseiling/frames_d"), withIntermediateDirectories: true)
        try ExternalTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "4",
                                        path("data/train/abseiling/frames_d/img_%05d.jpg")])
        let list = try VideoList(path: path("data/train"))
        #expect(list.classes == ["abseiling", "walking"])
        #expect(list.items.map(\.label) == [0, 0, 1, 1] && list.items[1].path.hasSuffix("frames_d"))
        try video("data/val/walking/v.mp4")
        let val = try VideoList(path: path("data/val"), classes: list.classes)
        #expect(val.items.map(\.label) == [1])
        try FileManager.default.createDirectory(atPath: path("data/val/running"), withIntermediateDirectories: true)
        #expect(throws: VideoList.LineError.self) { try VideoList(path: path("data/val"), classes: list.classes) }
    }

    @Test func rawframeList() throws {
        try write("frames/v1 30 2\nframes/v2 12 0\n", "rawframes_train.txt")
        let list = try VideoList(path: path("rawframes_train.txt"))
        #expect(list.items.map(\.label) == [2, 0] && list.items[0].path == path("frames/v1"))
    }

    @Test func ucf101Splits() throws {
        try write("1 ApplyEyeMakeup\n2 Archery\n", "ucfTrainTestlist/classInd.txt")
        try write("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n", "ucfTrainTestlist/trainlist01.txt")
        try write("Archery/v_Archery_g01_c01.avi\n", "ucfTrainTestlist/testlist01.txt")
        try video("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi")
        let train = try VideoList(path: path("ucfTrainTestlist/trainlist01.txt"))
        #expect(train.classes == ["ApplyEyeMakeup", "Archery"] && train.items.map(\.label) == [0, 1])
        #expect(train.items[0].path == path("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"))
        let test = try VideoList(path: path("ucfTrainTestlist/testlist01.txt"))
        #expect(test.items.map(\.label) == [1])
        // One summary names what is missing; nothing is dropped in silence.
        let (kept, missing) = train.existing()
        #expect(kept.items.count == 1 && missing == [path("UCF-101/Archery/v_Archery_g08_c01.avi")])
        try write("Archery/v_Archery_g08_c01.avi 1\n", "ucfTrainTestlist/trainlist02.txt")
        #expect(throws: VideoList.LineError.self) { try VideoList(path: path("ucfTrainTestlist/trainlist02.txt")) }
    }

    @Test func hmdb51Splits() throws {
        try write("a.avi 1\nb.avi 2\nc.avi 0\n", "splits/brush_hair_test_split1.txt")
        try write("d.avi 2\ne.avi 1\n", "splits/cartwheel_test_split1.txt")
        try video("hmdb51/brush_hair/a.avi")
        let train = try VideoList(path: path("splits"), part: .train)
        #expect(train.classes == ["brush_hair", "cartwheel"] && train.items.map(\.label) == [0, 1])
        #expect(train.items[0].path == path("hmdb51/brush_hair/a.avi"))
        let test = try VideoList(path: path("splits"), part: .test)
        #expect(test.items.map { ($0.path as NSString).lastPathComponent } == ["b.avi", "d.avi"])
        #expect(throws: VideoList.LineError.self) { try VideoList(path: path("splits"), split: 2) }
    }

    /// Kinetics CSVs: a trimmed download (`id_000004_000014.mp4`) is the clip; a full video is
    /// cut to the time range, and reading it gives exactly the range's frames.
    @Test func kineticsCSV() throws {
        try write("label,youtube_id,time_start,time_end,split\n\"passing American football (in game)\",trimmedID,4,14,train\n"
                  + "abseiling,fullID,1,2,train\nabseiling,goneID,0,10,train\n",
                  "kinetics/train.csv")
        try video("kinetics/train/trimmedID_000004_000014.mp4")
        try video("kinetics/train/abseiling/fullID.mp4", seconds: 3)
        let list = try VideoList(path: path("kinetics/train.csv"))
        #expect(list.classes == ["abseiling", "passing American football (in game)"])
        #expect(list.items[0].label == 1 && list.items[0].timeRange == nil && list.items[0].path.hasSuffix("trimmedID_000004_000014.mp4"))
        #expect(list.items[1].timeRange == 1.0..<2.0)
        #expect(list.existing().missing.count == 1)
        let cut = try VideoReader(path: list.items[1].path, options: list.items[1].openOptions)
        let whole = try VideoReader(path: list.items[1].path)
        #expect(cut.info.frameCount == 10)
        #expect(try cut.frames([0, 9], width: 32, height: 24).bytes == whole.frames([10, 19], width: 32, height: 24).bytes)
    }
}
