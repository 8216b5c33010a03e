"""Validates a Hugging Face model directory the strict way and optionally compares it with another one.

    /usr/bin/python3 python/torchref/check_export.py --dir DIR [--against DIR2] [--quiet]

Checks, each failure printed as one line naming the file, the tensor and the rule:
- every safetensors file: the reader's rules (header length <= 100 MB and inside the file, UTF-8 JSON object, no
  duplicate keys, `__metadata__` string->string, known dtype, offsets sorted/starting at 0/contiguous, bytes =
  product(shape) x dtype size, last offset + 8 + N = file size) and the writer's conventions (header starts with '{',
  padded with spaces so 8 + N is a multiple of 8, `__metadata__` {"format": "pt"}, each tensor aligned to its size);
- the layout: `model.safetensors`, or `model-0000k-of-0000n.safetensors` shards listed by
  `model.safetensors.index.json` (every shard named exists, weight_map and shards agree both ways,
  metadata.total_size = the tensors' bytes, no stray shard files, not both layouts at once);
- config.json: readable by the reference (supported model_type, rope, activation ...), tensor names and shapes exactly
  those the config implies (tied `lm_head.weight` absent, or equal to the embeddings), float dtype = torch_dtype.
With --against DIR2: the same names, shapes, dtypes and bytes for every tensor, the same model config, and the
tokenizer files of DIR2 present and identical in DIR.
Exit status: 0 when all checks pass, 1 when any fails, 2 when DIR does not exist.
"""

import argparse
import json
import os
import re
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from torchref import hf_decoder, safetensors_io as st  # noqa: E402

SHARD_RE = re.compile(r"^model-(\d{5})-of-(\d{5})\.safetensors$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "generation_config.json")
TORCH_DTYPE = {"float32": "F32", "bfloat16": "BF16", "float16": "F16", "float64": "F64"}


class Report:
    def __init__(self):
        self.problems = []

    def fail(self, msg):
        self.problems.append(msg)


def check_file_conventions(path, header, report):
    with open(path, "rb") as f:
        f.seek(8)
        first = f.read(1)
    if first != b"{":
        report.fail(f"{path}: header does not start with '{{'")
    if (8 + header.header_len) % 8:
        report.fail(f"{path}: 8 + header length {header.header_len} is not a multiple of 8 (the writer pads the "
                    f"header with spaces so the data starts 8-byte aligned)")
    if header.metadata is None or header.metadata.get("format") != "pt":
        report.fail(f"{path}: __metadata__ is {header.metadata!r}; transformers writes {{\"format\": \"pt\"}}")
    for name, info in header.tensors.items():
        if (header.data_start + info.begin) % st.DTYPE_SIZE[info.dtype]:
            report.fail(f"{path}: tensor '{name}': data at byte {header.data_start + info.begin} is not aligned to "
                        f"its {st.DTYPE_SIZE[info.dtype]}-byte {info.dtype} elements")


def read_layout(directory, report):
    """{tensor name: (file, TensorInfo)} after the layout and per-file checks; None if unreadable."""
    single = os.path.join(directory, st.SINGLE_FILE)
    index = os.path.join(directory, st.INDEX_FILE)
    shard_files = sorted(f for f in os.listdir(directory) if SHARD_RE.match(f))
    headers = {}
    try:
        if os.path.isfile(single) and os.path.isfile(index):
            report.fail(f"{directory}: both {st.SINGLE_FILE} and {st.INDEX_FILE} exist (transformers would load "
                        f"{st.SINGLE_FILE} and ignore the shards)")
        if os.path.isfile(single):
            headers[st.SINGLE_FILE] = st.read_header(single)
            for f in shard_files:
                report.fail(f"{os.path.join(directory, f)}: stray shard next to {st.SINGLE_FILE}")
        elif os.path.isfile(index):
            idx, headers = st.read_index(directory)
            if not isinstance(idx.get("metadata"), dict) or "total_size" not in idx["metadata"]:
                report.fail(f"{index}: metadata.total_size missing")
            names = sorted(headers)
            for f in names:
                m = SHARD_RE.match(f)
                if not m:
                    report.fail(f"{index}: shard '{f}' is not named model-0000k-of-0000n.safetensors")
                elif int(m.group(2)) != len(names):
                    report.fail(f"{index}: shard '{f}' says of {int(m.group(2))} but there are {len(names)} shards")
            expected = [f"model-{i + 1:05d}-of-{len(names):05d}.safetensors" for i in range(len(names))]
            if all(SHARD_RE.match(f) for f in names) and names != expected:
                report.fail(f"{index}: shards {names} are not numbered 1..{len(names)}")
            for f in shard_files:
                if f not in headers:
                    report.fail(f"{os.path.join(directory, f)}: shard file not referenced by {st.INDEX_FILE}")
        else:
            report.fail(f"{directory}: neither {st.SINGLE_FILE} nor {st.INDEX_FILE}")
            return None
    except st.SafetensorsError as e:
        report.fail(str(e))
        return None
    tensors = {}
    for fname, h in headers.items():
        check_file_conventions(os.path.join(directory, fname), h, report)
        for name, info in h.tensors.items():
            tensors[name] = (fname, info)
    return tensors


def check_against_config(directory, tensors, report):
    cpath = os.path.join(directory, "config.json")
    if not os.path.isfile(cpath):
        report.fail(f"{cpath}: missing")
        return None
    try:
        cfg = hf_decoder.DecoderConfig.from_file(cpath)
    except (ValueError, OSError) as e:
        report.fail(str(e))
        return None
    shapes = hf_decoder.expected_shapes(cfg)
    for name, shape in shapes.items():
        if name not in tensors:
            report.fail(f"{directory}: tensor '{name}' missing (config.json implies it)")
        elif tuple(tensors[name][1].shape) != shape:
            report.fail(f"{tensors[name][0]}: tensor '{name}' has shape {list(tensors[name][1].shape)}, config.json "
                        f"implies {list(shape)}")
    for name in tensors:
        if name not in shapes:
            if name == "lm_head.weight" and cfg.tie_word_embeddings:
                continue  # compared by value below
            report.fail(f"{tensors[name][0]}: unexpected tensor '{name}'")
    want = TORCH_DTYPE.get(cfg.torch_dtype)
    if cfg.torch_dtype is not None and want is None:
        report.fail(f"{cpath}: torch_dtype {cfg.torch_dtype!r} is not a float dtype safetensors stores")
    for name, (fname, info) in tensors.items():
        if want and info.dtype != want:
            report.fail(f"{fname}: tensor '{name}' is {info.dtype} but config.json torch_dtype is {cfg.torch_dtype}")
    return cfg


def read_tensor(directory, fname, name):
    return st.load_file(os.path.join(directory, fname), names={name})[0][name]


def raw_bytes(t):
    return st.tensor_bytes(t)


def compare(dir_a, tens_a, dir_b, report):
    tens_b = read_layout(dir_b, Report())
    if tens_b is None:
        report.fail(f"{dir_b}: unreadable (run check_export on it alone)")
        return 0
    for name in sorted(set(tens_b) - set(tens_a)):
        report.fail(f"{dir_a}: tensor '{name}' of {dir_b} is missing")
    for name in sorted(set(tens_a) - set(tens_b)):
        report.fail(f"{dir_a}: tensor '{name}' is not in {dir_b}")
    same = 0
    for name in sorted(set(tens_a) & set(tens_b)):
        (fa, ia), (fb, ib) = tens_a[name], tens_b[name]
        if ia.dtype != ib.dtype or ia.shape != ib.shape:
            report.fail(f"{fa}: tensor '{name}' is {ia.dtype}{list(ia.shape)} but {ib.dtype}{list(ib.shape)} in "
                        f"{dir_b}")
            continue
        a, b = read_tensor(dir_a, fa, name), read_tensor(dir_b, fb, name)
        if raw_bytes(a) != raw_bytes(b):
            d = (a.double() - b.double()).abs()
            report.fail(f"{fa}: tensor '{name}' differs from {dir_b} ({int((d > 0).sum())} elements, max abs "
                        f"difference {float(d.max()):.3e})")
        else:
            same += 1
    for f in TOKENIZER_FILES:
        pb = os.path.join(dir_b, f)
        if os.path.isfile(pb):
            pa = os.path.join(dir_a, f)
            if not os.path.isfile(pa):
                report.fail(f"{pa}: missing ({dir_b} has it)")
            elif open(pa, "rb").read() != open(pb, "rb").read():
                report.fail(f"{pa}: differs from {pb}")
    try:
        ca = hf_decoder.DecoderConfig.from_file(os.path.join(dir_a, "config.json"))
        cb = hf_decoder.DecoderConfig.from_file(os.path.join(dir_b, "config.json"))
        for field in ca.__dataclass_fields__:
            if field in ("raw", "torch_dtype"):
                continue
            if getattr(ca, field) != getattr(cb, field):
                report.fail(f"{dir_a}/config.json: {field} is {getattr(ca, field)!r} but {getattr(cb, field)!r} "
                            f"in {dir_b}")
    except (ValueError, OSError) as e:
        report.fail(f"config comparison: {e}")
    return same


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="the Hugging Face directory to check")
    ap.add_argument("--against", help="a directory whose tensors DIR must reproduce bit for bit")
    ap.add_argument("--quiet", action="store_true", help="do not list the tensors")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.dir):
        print(f"error: {args.dir}: not a directory", file=sys.stderr)
        return 2
    if args.against and not os.path.isdir(args.against):
        print(f"error: {args.against}: not a directory", file=sys.stderr)
        return 2
    report = Report()
    tensors = read_layout(args.dir, report)
    if tensors is not None:
        cfg = check_against_config(args.dir, tensors, report)
        if cfg is not None and cfg.tie_word_embeddings and "lm_head.weight" in tensors \
                and "model.embed_tokens.weight" in tensors:
            lm = read_tensor(args.dir, tensors["lm_head.weight"][0], "lm_head.weight")
            emb = read_tensor(args.dir, tensors["model.embed_tokens.weight"][0], "model.embed_tokens.weight")
            if lm.shape != emb.shape or raw_bytes(lm) != raw_bytes(emb):
                report.fail(f"{args.dir}: tie_word_embeddings is true but lm_head.weight differs from the embeddings")
        if not args.quiet:
            for name in sorted(tensors):
                fname, info = tensors[name]
                print(f"{name:60s} {info.dtype:5s} {str(list(info.shape)):16s} {fname}")
        total = sum(i.nbytes for _, i in tensors.values())
        files = sorted({f for f, _ in tensors.values()})
        print(f"{len(tensors)} tensors, {total} bytes in {len(files)} file(s)")
        if args.against:
            same = compare(args.dir, tensors, args.against, report)
            print(f"{same} tensors identical to {args.against}")
    for p in report.problems:
        print(f"FAIL {p}")
    print("OK" if not report.problems else f"{len(report.problems)} problem(s)")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
