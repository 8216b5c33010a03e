#!/usr/bin/env python3
"""Lists the code objects (ELF cubins) and PTX embedded in a shared library's .nv_fatbin section, like
`cuobjdump --list-elf` / `--list-ptx` (the CI image ships nvcc without cuobjdump). With --require, exits 1 unless
every listed item is present, e.g. --require elf:sm_80 elf:sm_90 ptx:sm_90."""
import struct
import subprocess
import sys


def section(path, name):
    out = subprocess.run(["readelf", "-W", "-S", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.replace("[ ", "[").split()
        if name in parts:
            i = parts.index(name)
            off, size = int(parts[i + 3], 16), int(parts[i + 4], 16)
            with open(path, "rb") as f:
                f.seek(off)
                return f.read(size)
    return b""


def entries(blob):
    pos = 0
    while pos + 16 <= len(blob):
        magic, _ver, hsize, fsize = struct.unpack_from("<IHHQ", blob, pos)
        if magic != 0xBA55ED50:
            pos += 8  # fatbins are 8-byte aligned inside the section
            continue
        e, end = pos + hsize, pos + hsize + fsize
        while e < end:
            kind, _v, ehsize, padded = struct.unpack_from("<HHII", blob, e)
            sm = struct.unpack_from("<I", blob, e + 28)[0]
            yield ("ptx" if kind == 1 else "elf" if kind == 2 else f"kind{kind}"), f"sm_{sm}"
            e += ehsize + padded
        pos = end


def main():
    path = sys.argv[1]
    found = sorted(set(entries(section(path, ".nv_fatbin"))))
    for kind, sm in found:
        print(f"{kind}\t{sm}")
    if "--require" in sys.argv:
        need = sys.argv[sys.argv.index("--require") + 1:]
        have = {f"{k}:{s}" for k, s in found}
        missing = [n for n in need if n not in have]
        if missing:
            print("missing:", " ".join(missing))
            sys.exit(1)


if __name__ == "__main__":
    main()
