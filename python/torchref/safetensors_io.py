"""A strict safetensors reader/writer and Hugging Face model-directory helpers (no `safetensors` package needed).

File layout (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON
(a map of tensor name -> {"dtype", "shape", "data_offsets": [begin, end)} plus an optional "__metadata__" map of
string -> string), then the data; tensors are little-endian and row-major, offsets relative to the data start.

The writer reproduces the Rust library's `serialize` byte for byte: tensors sorted by descending dtype (the enum
order below) then by name, laid out back to back in that order, compact JSON with "__metadata__" first and the keys
of each entry in the order dtype, shape, data_offsets, the header padded with spaces to a multiple of 8.

The reader applies the checks of the Rust reader (`SafeTensors::read_metadata` + `Metadata::validate`) and two more
that Python's json module would otherwise let through silently (duplicate keys, a non-object header).
"""

import json
import math
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

if sys.byteorder != "little":  # numpy/torch buffers are used as little-endian bytes below
    raise ImportError("torchref.safetensors_io assumes a little-endian host")

MAX_HEADER_SIZE = 100_000_000

# The Rust `Dtype` enum, in its declaration order (the writer sorts by it, descending). Element size in bytes.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64",
               "I64", "U64"]
DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
              "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}

# safetensors dtype <-> torch dtype (torch 1.13 has no uint16/32/64 and no float8).
_TO_TORCH = {"BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "F16": torch.float16,
             "BF16": torch.bfloat16, "I32": torch.int32, "F32": torch.float32, "F64": torch.float64,
             "I64": torch.int64}
_FROM_TORCH = {v: k for k, v in _TO_TORCH.items()}
# numpy dtype used to move the raw bytes (bfloat16 travels as int16 and is reinterpreted by torch).
_NUMPY = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "F16": np.float16, "BF16": np.int16,
          "I32": np.int32, "F32": np.float32, "F64": np.float64, "I64": np.int64}

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


class SafetensorsError(ValueError):
    """A file that breaks a safetensors rule. The message names the file, the tensor (when there is one) and the rule."""

    def __init__(self, path, rule, tensor=None):
        self.path, self.rule, self.tensor = str(path), rule, tensor
        where = f"{path}: tensor '{tensor}': " if tensor is not None else f"{path}: "
        super().__init__(where + rule)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple
    begin: int  # relative to the data start
    end: int

    @property
    def nbytes(self):
        return self.end - self.begin


@dataclass(frozen=True)
class Header:
    path: str
    header_len: int  # N, the JSON length including padding
    metadata: dict  # the "__metadata__" map, or None
    tensors: "OrderedDict[str, TensorInfo]"  # in offset order

    @property
    def data_start(self):
        return 8 + self.header_len


def _no_duplicates(path):
    def hook(pairs):
        seen = OrderedDict()
        for k, v in pairs:
            if k in seen:
                raise SafetensorsError(path, f"duplicate key '{k}' in the header JSON")
            seen[k] = v
        return seen
    return hook


def _is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_header(path):
    """Reads and validates the header of one safetensors file. Raises SafetensorsError on any violation."""
    path = str(path)
    file_size = os.path.getsize(path)
    if file_size < 8:
        raise SafetensorsError(path, f"file has {file_size} bytes, fewer than the 8-byte header length")
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > MAX_HEADER_SIZE:
            raise SafetensorsError(path, f"header length {n} exceeds the limit of {MAX_HEADER_SIZE} bytes")
        if 8 + n > file_size:
            raise SafetensorsError(path, f"header length {n} runs past the end of the file ({file_size} bytes)")
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(path, f"header is not valid UTF-8 ({e})") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates(path))
    except SafetensorsError:
        raise
    except ValueError as e:
        raise SafetensorsError(path, f"header is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise SafetensorsError(path, "header JSON is not an object")

    metadata = None
    infos = []
    for name, entry in obj.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise SafetensorsError(path, "__metadata__ must be a map of string to string")
            metadata = dict(entry)
            continue
        if not isinstance(entry, dict):
            raise SafetensorsError(path, "entry is not a JSON object", name)
        unknown = set(entry) - {"dtype", "shape", "data_offsets"}
        missing = {"dtype", "shape", "data_offsets"} - set(entry)
        if missing or unknown:
            raise SafetensorsError(path, f"entry must have exactly dtype, shape, data_offsets "
                                         f"(missing {sorted(missing)}, unknown {sorted(unknown)})", name)
        dtype, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_SIZE:
            raise SafetensorsError(path, f"unknown dtype {dtype!r}", name)
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise SafetensorsError(path, f"shape {shape!r} is not a list of non-negative integers", name)
        if not isinstance(offs, list) or len(offs) != 2 or not all(_is_uint(o) for o in offs):
            raise SafetensorsError(path, f"data_offsets {offs!r} is not a pair of non-negative integers", name)
        infos.append(TensorInfo(name, dtype, tuple(shape), offs[0], offs[1]))

    # Metadata::validate: sorted by offsets, the first at 0, each starting where the previous ended.
    infos.sort(key=lambda t: (t.begin, t.end))
    start = 0
    limit = 2 ** 64  # usize on the platforms the Rust reader runs on
    for t in infos:
        if t.begin != start:
            kind = "a gap" if t.begin > start else "an overlap"
            raise SafetensorsError(path, f"data_offsets [{t.begin}, {t.end}] leave {kind}: expected the tensor to "
                                         f"start at {start}", t.name)
        if t.end < t.begin:
            raise SafetensorsError(path, f"data_offsets [{t.begin}, {t.end}] end before they begin", t.name)
        count = 1
        for d in t.shape:
            count *= d
            if count >= limit:
                raise SafetensorsError(path, f"shape {list(t.shape)} overflows", t.name)
        nbytes = count * DTYPE_SIZE[t.dtype]
        if nbytes >= limit:
            raise SafetensorsError(path, f"shape {list(t.shape)} x {t.dtype} overflows", t.name)
        if t.nbytes != nbytes:
            raise SafetensorsError(path, f"data_offsets span {t.nbytes} bytes but shape {list(t.shape)} of "
                                         f"{t.dtype} needs {nbytes}", t.name)
        start = t.end
    if start + 8 + n != file_size:
        raise SafetensorsError(path, f"data ends at byte {start + 8 + n} but the file has {file_size} bytes "
                                     f"(8 + header {n} + data {start} must equal the file size)")
    return Header(path, n, metadata, OrderedDict((t.name, t) for t in infos))


def _to_tensor(info, raw, path):
    if info.dtype not in _TO_TORCH:
        raise SafetensorsError(path, f"dtype {info.dtype} has no torch {torch.__version__} equivalent", info.name)
    # `raw` is a bytearray (writable), so numpy and torch share its memory: no copy.
    arr = np.frombuffer(raw, dtype=np.dtype(_NUMPY[info.dtype]).newbyteorder("<"),
                        count=len(raw) // DTYPE_SIZE[info.dtype])
    t = torch.from_numpy(arr)
    if info.dtype == "BF16":
        t = t.view(torch.bfloat16)
    return t.reshape(info.shape)


def load_file(path, names=None):
    """Returns (OrderedDict name -> torch.Tensor in the file's dtype, in offset order; metadata or None)."""
    header = read_header(path)
    out = OrderedDict()
    with open(header.path, "rb") as f:
        for name, info in header.tensors.items():
            if names is not None and name not in names:
                continue
            f.seek(header.data_start + info.begin)
            raw = bytearray(info.nbytes)
            if f.readinto(raw) != info.nbytes:
                raise SafetensorsError(path, "file shorter than its header says", name)
            out[name] = _to_tensor(info, raw, header.path)
    return out, header.metadata


def dtype_name(t):
    """The safetensors dtype string of a torch tensor."""
    try:
        return _FROM_TORCH[t.dtype]
    except KeyError:
        raise ValueError(f"torch dtype {t.dtype} cannot be written to safetensors here") from None


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def serialize(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` (a mapping name -> torch.Tensor), like the Rust writer."""
    items = sorted(tensors.items(), key=lambda kv: kv[0])
    items.sort(key=lambda kv: DTYPE_ORDER.index(dtype_name(kv[1])), reverse=True)  # stable: ties keep name order
    header = OrderedDict()
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map strings to strings")
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = OrderedDict([("dtype", dtype_name(t)), ("shape", list(t.shape)),
                                    ("data_offsets", [offset, offset + len(b)])])
        offset += len(b)
        blobs.append(b)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return len(hb).to_bytes(8, "little") + hb + b"".join(blobs)


def save_file(tensors, path, metadata=None):
    """Writes `tensors` to `path` (default metadata {"format": "pt"}, as transformers writes)."""
    if metadata is None:
        metadata = {"format": "pt"}
    data = serialize(tensors, metadata)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- model directories

def parse_size(size):
    """'5GB' -> 5_000_000_000 (decimal units as transformers/huggingface_hub; KiB/MiB/GiB binary); ints pass through."""
    if isinstance(size, int):
        return size
    s = str(size).strip().upper()
    units = [("GIB", 2 ** 30), ("MIB", 2 ** 20), ("KIB", 2 ** 10), ("GB", 10 ** 9), ("MB", 10 ** 6), ("KB", 10 ** 3),
             ("B", 1)]
    for unit, mult in units:
        if s.endswith(unit):
            return int(float(s[:-len(unit)]) * mult)
    return int(s)


def shard_state_dict(state_dict, max_shard_bytes):
    """Splits like huggingface_hub's split_torch_state_dict_into_shards: tensors in order; a tensor that would tip
    the current shard over the limit starts a new one; a tensor larger than the limit gets a shard of its own."""
    shards, current, current_size = [], OrderedDict(), 0
    for name, t in state_dict.items():
        size = t.numel() * t.element_size()
        if size > max_shard_bytes:
            shards.append(OrderedDict([(name, t)]))
            continue
        if current and current_size + size > max_shard_bytes:
            shards.append(current)
            current, current_size = OrderedDict(), 0
        current[name] = t
        current_size += size
    if current:
        shards.append(current)
    return shards


def save_pretrained(directory, state_dict, config_dict=None, max_shard_bytes="5GB"):
    """Writes `config.json` (if given) and the weights as `model.safetensors`, or as shards
    `model-0000k-of-0000n.safetensors` plus `model.safetensors.index.json` when they exceed `max_shard_bytes`.
    Returns the list of weight files written."""
    os.makedirs(directory, exist_ok=True)
    if config_dict is not None:
        write_json(os.path.join(directory, "config.json"), config_dict)
    shards = shard_state_dict(state_dict, parse_size(max_shard_bytes))
    if len(shards) <= 1:
        save_file(shards[0] if shards else OrderedDict(), os.path.join(directory, SINGLE_FILE))
        return [SINGLE_FILE]
    files, weight_map, total = [], {}, 0
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(directory, fname))
        files.append(fname)
        for name, t in shard.items():
            weight_map[name] = fname
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(directory, INDEX_FILE), index)
    return files


def write_json(path, obj):
    """JSON as transformers writes config files: indent 2, sorted keys, trailing newline."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_index(directory):
    """Validates `model.safetensors.index.json` against its shards. Returns (index dict, {file: Header})."""
    ipath = os.path.join(directory, INDEX_FILE)
    with open(ipath, encoding="utf-8") as f:
        try:
            index = json.load(f, object_pairs_hook=_no_duplicates(ipath))
        except SafetensorsError:
            raise
        except ValueError as e:
            raise SafetensorsError(ipath, f"not valid JSON ({e})") from None
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise SafetensorsError(ipath, "missing the 'weight_map' object")
    weight_map = index["weight_map"]
    headers = {}
    for fname in sorted(set(weight_map.values())):
        if not isinstance(fname, str) or os.path.basename(fname) != fname:
            raise SafetensorsError(ipath, f"weight_map names {fname!r}, not a file name in the directory")
        spath = os.path.join(directory, fname)
        if not os.path.isfile(spath):
            raise SafetensorsError(ipath, f"shard '{fname}' named in weight_map does not exist")
        headers[fname] = read_header(spath)
    total = 0
    for fname, h in headers.items():
        for name, info in h.tensors.items():
            total += info.nbytes
            if weight_map.get(name) != fname:
                raise SafetensorsError(h.path, f"tensor is in this shard but weight_map says "
                                               f"{weight_map.get(name)!r}", name)
    for name, fname in weight_map.items():
        if name not in headers[fname].tensors:
            raise SafetensorsError(ipath, f"weight_map puts tensor in '{fname}' but that shard lacks it", name)
    meta = index.get("metadata")
    if meta is not None and "total_size" in meta and meta["total_size"] != total:
        raise SafetensorsError(ipath, f"metadata.total_size is {meta['total_size']} but the shards' tensors hold "
                                      f"{total} bytes")
    return index, headers


def weight_files(directory):
    """The weight files of a HF directory: ([file names], index or None). Like transformers' from_pretrained, a
    `model.safetensors` wins over an index when both exist."""
    if os.path.isfile(os.path.join(directory, SINGLE_FILE)):
        return [SINGLE_FILE], None
    if os.path.isfile(os.path.join(directory, INDEX_FILE)):
        index, headers = read_index(directory)
        return sorted(headers), index
    raise FileNotFoundError(f"{directory}: neither {SINGLE_FILE} nor {INDEX_FILE} found")


def load_state_dict(directory):
    """All tensors of a HF model directory (single file or sharded), in their stored dtypes."""
    files, _ = weight_files(directory)
    out = OrderedDict()
    for fname in files:
        tensors, _ = load_file(os.path.join(directory, fname))
        for name, t in tensors.items():
            if name in out:
                raise SafetensorsError(os.path.join(directory, fname), "tensor appears in two shards", name)
            out[name] = t
    return out


def numel(shape):
    return math.prod(shape) if shape else 1
