#!/usr/bin/env python3
"""Writes data/fashion-mnist-mini/: the first examples of the real Fashion-MNIST files.

The tests and the quick examples in docs/building.md use this small copy so they run in seconds
without the 30 MB dataset. It is made from Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist) and is byte-for-byte a prefix of it, with the IDX
headers rewritten to the smaller counts. Rerun it to regenerate; the output is deterministic.

usage: scripts/make_fixtures.py [SOURCE_DIR] [DEST_DIR]
"""
import gzip
import pathlib
import struct
import sys

TRAIN_EXAMPLES = 1200  # tests hold out the last 200 for validation
TEST_EXAMPLES = 300


def read_idx(path):
    data = gzip.open(path, "rb").read()
    magic, = struct.unpack(">I", data[:4])
    dims = struct.unpack(">" + "I" * (magic & 0xFF), data[4:4 + 4 * (magic & 0xFF)])
    return magic, list(dims), data[4 + 4 * len(dims):]


def write_idx(path, magic, dims, payload):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    # mtime=0 keeps the .gz bytes identical from one run to the next.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(header + payload)


def main():
    source = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
    dest = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else
                        pathlib.Path(__file__).resolve().parent.parent / "data" / "fashion-mnist-mini")
    dest.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", TRAIN_EXAMPLES), ("t10k", TEST_EXAMPLES)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            name = f"{split}-{kind}.gz"
            magic, dims, payload = read_idx(source / name)
            per_example = len(payload) // dims[0]
            write_idx(dest / name, magic, [count] + dims[1:], payload[:count * per_example])
            print(f"wrote {dest / name}: {count} of {dims[0]} examples")


if __name__ == "__main__":
    main()
