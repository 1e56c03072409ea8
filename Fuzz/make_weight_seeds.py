#!/usr/bin/env python3
"""Writes the seed corpora of `make fuzz-weights` into Fuzz/corpus-weights/<reader>/: small
valid files of each format the readers take (plain python3; numpy is optional, torch is not
needed: torch.save's pickle is imitated with stand-in classes that pickle under torch's names).
The seeds are committed; rerun only to change them."""
import collections, io, json, os, pickle, shutil, struct, sys, types, zipfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-weights")


def out(reader, name, data):
    with open(os.path.join(root, reader, name), "wb") as f:
        f.write(data)


# --- safetensors: 8-byte header length, JSON header, raw little-endian data ---------------
def safetensors(entries, metadata=None, pad=True, order=None):
    header, blob = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    while pad and (8 + len(text)) % 8:
        text += b" "
    return struct.pack("<Q", len(text)) + text + blob


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
out("safetensors", "f32.safetensors", safetensors(
    [("a", "F32", [2, 3], f32(0, 1, 2, 3, 4, 5)), ("b", "F32", [3], f32(-1, 0.5, 7))], {"format": "pt"}))
out("safetensors", "dtypes.safetensors", safetensors([
    ("f16", "F16", [2], struct.pack("<2e", 1.5, -2)), ("bf16", "BF16", [1], b"\x80\x3f"),
    ("f64", "F64", [1], struct.pack("<d", 3.25)), ("i64", "I64", [2], struct.pack("<2q", -5, 9)),
    ("i32", "I32", [1], struct.pack("<i", 7)), ("i16", "I16", [1], struct.pack("<h", -3)),
    ("i8", "I8", [2], b"\xff\x01"), ("u8", "U8", [1], b"\xc8"), ("bool", "BOOL", [2], b"\x00\x01"),
    ("odd", "F32", [1], f32(2.5)),  # at an odd offset: the unaligned F32 path
    ("scalar", "F32", [], f32(9)), ("empty", "F32", [0, 4], b""),
], pad=False))
config = "name: tiny\nmodel: {arch: i3d, depth: 50, width: 1, classes: 2}\ninput: {frames: 2, stride: 1, short_side: 32, crop: 32}\n"
out("safetensors", "metadata.safetensors", safetensors(
    [("s1.pathway0_stem.conv.weight", "F32", [1, 3, 1, 1, 1], f32(1, 2, 3))],
    {"nlnet.config": config, "format": "pt", "layout": "nlnet-internal"}))

# --- pickles (Caffe2 .pkl): the machine's opcodes over protocols 0-4, and numpy arrays ----
plain = {"blobs": {"conv1_w": [1, -2, 3.5], "lr": 0.1, "name": "x", "raw": b"\x00\x01",
                   "t": (1, (2, 3), None, True, False), "big": 2 ** 40, "neg": -(2 ** 62), "u": "\u00e9\u4e2d",
                   "nested": {"a": [[], {}], "s": {1, 2}}}}
for proto in range(5):
    out("pickle", "plain_p%d.pkl" % proto, pickle.dumps(plain, protocol=proto))
try:
    import numpy as np
    arrays = {"blobs": {"w": np.arange(6, dtype="<f4").reshape(2, 3), "b": np.array([1.5, -2], dtype=">f8"),
                        "h": np.array([0.25], dtype="<f2"), "i": np.array([[1, 2]], dtype="<i8"),
                        "f": np.asfortranarray(np.arange(6, dtype="<f4").reshape(3, 2)),
                        "u": np.array([255], dtype="u1"), "model_iter": np.array(3)}}
    out("pickle", "numpy_p2.pkl", pickle.dumps(arrays, protocol=2))
    out("pickle", "numpy_p4.pkl", pickle.dumps(arrays, protocol=4))
except ImportError:
    print("numpy not found: numpy seeds skipped (the pickle corpus also has Tests/Fixtures/checkpoints/odd_arrays.pkl)")
fixture = os.path.join(os.path.dirname(root), "..", "Tests", "Fixtures", "checkpoints", "odd_arrays.pkl")
shutil.copy(fixture, os.path.join(root, "pickle", "odd_arrays.pkl"))

# --- torch.save zips: <prefix>/data.pkl (protocol 2, persistent ids) + <prefix>/data/<key> ---
torch = types.ModuleType("torch")
torch._utils = types.ModuleType("torch._utils")
sys.modules["torch"], sys.modules["torch._utils"] = torch, torch._utils
for kind in ["FloatStorage", "HalfStorage", "LongStorage", "DoubleStorage", "ByteStorage"]:
    cls = type(kind, (), {"__module__": "torch"})
    setattr(torch, kind, cls)


def _rebuild_tensor_v2(*args): pass
def _rebuild_parameter(*args): pass
_rebuild_tensor_v2.__module__ = _rebuild_parameter.__module__ = "torch._utils"
torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter = _rebuild_tensor_v2, _rebuild_parameter


class Storage:
    def __init__(self, kind, key, count): self.kind, self.key, self.count = kind, key, count


class Tensor:
    def __init__(self, storage, offset, size, stride, parameter=False):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())
        self.parameter = parameter

    def __reduce__(self):
        t = (_rebuild_tensor_v2, self.args)
        if self.parameter:
            inner = Tensor(*self.args[:4])
            return (_rebuild_parameter, (inner, True, collections.OrderedDict()))
        return t


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", getattr(torch, obj.kind), obj.key, "cpu", obj.count)
        return None


def torch_zip(state, storages, prefix="archive", method=zipfile.ZIP_STORED, zip64=False):
    buf = io.BytesIO()
    f = io.BytesIO()
    TorchPickler(f, protocol=2).dump(state)
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        def put(name, data):
            with z.open(prefix + "/" + name, "w", force_zip64=zip64) as e:
                e.write(data)
        put("data.pkl", f.getvalue())
        put("byteorder", b"little")
        for key, data in storages.items():
            put("data/" + key, data)
        put("version", b"3\n")
    return buf.getvalue()


s0, s1, s2 = Storage("FloatStorage", "0", 6), Storage("HalfStorage", "1", 2), Storage("LongStorage", "2", 1)
state = collections.OrderedDict([
    ("conv.weight", Tensor(s0, 0, (2, 3), (3, 1))),
    ("conv.weight_t", Tensor(s0, 1, (2, 2), (1, 3))),       # a strided view with an offset
    ("bn.weight", Tensor(s1, 0, (2,), (1,), parameter=True)),
    ("bn.num_batches_tracked", Tensor(s2, 0, (), ())),
])
data = {"0": f32(0, 1, 2, 3, 4, 5), "1": struct.pack("<2e", 1, -0.5), "2": struct.pack("<q", 12)}
out("torchzip", "state_stored.pth", torch_zip({"model_state": state, "epoch": 3}, data))
out("torchzip", "state_deflated.pth", torch_zip({"state_dict": state, "meta": {"v": "1.x"}}, data, prefix="ckpt",
                                                method=zipfile.ZIP_DEFLATED))
out("torchzip", "state_zip64.pth", torch_zip(state, data, prefix="m", zip64=True))

# --- YAML presets: a few shipped ones, and YAML's own features (anchors, tags, block scalars) ---
configs = os.path.join(os.path.dirname(root), "..", "Configs")
for name in ["default_model.yaml", "i3d_nonlocal_8x8_r50.yaml", "nl_i3d_r101_32x2.yaml",
             "mmaction2_i3d_nl_dot_product_32x2_r50.yaml", "slowfast_c2d_nopool_8x8_r50.yaml",
             "attention/se_c2d_r50.yaml", "attention/gc_c2d_r50.yaml"]:
    shutil.copy(os.path.join(configs, name), os.path.join(root, "config", os.path.basename(name)))
out("config", "features.yaml", b"""%YAML 1.1
---
name: &n "quoted \\u00e9 name"
checkpoint: |
  a block scalar
  over two lines
model:
  arch: !!str i3d
  depth: 0x32
  width: +8
  classes: 1_0
  dropout: .5e-1
  train_crop: 0o100
  batch_norm: {epsilon: 1.0e-5, momentum: !!float 0.1, frozen: off}
  nonlocal:
    blocks: {res3: [1, 3], res4: &b [1, 3, 5]}
    temporal_groups: {res4: 2}
    instantiation: dot_product
    scale: yes
    norm: none
    init: msra
input: &in
  frames: 4
  stride: 2
  short_side: 64
  crop: 64
  normalization: imagenet
train: {copy: *in, list: [*b, *n], ts: 2001-12-14t21:59:43.10-05:00, bin: !!binary aGVsbG8=, nul: ~}
...
""")
print("seeds written under", root)
