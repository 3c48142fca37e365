#!/usr/bin/env python3
"""Writes the class-balanced Fashion-MNIST subset that ModelDsl embeds (see README.md).

Usage: python3 make_subset.py [SOURCE_FOLDER] [OUTPUT_FOLDER]
  SOURCE_FOLDER defaults to /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist)
  OUTPUT_FOLDER defaults to the folder of this script

Selection: for each class 0..9, the first PER_CLASS images of that class in the official file
order, written in their original relative order. Output is byte-for-byte reproducible (gzip with
no file name and mtime 0).
"""
import gzip
import hashlib
import os
import struct
import sys

SPLITS = [
    # (official prefix, subset name, images per class)
    ("train", "train", 800),
    ("t10k", "test", 200),
]
CLASSES = 10


def read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        sys.exit(f"{path}: magic {magic:#010x}, expected {expected_magic:#010x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    item = 1
    for d in dims[1:]:
        item *= d
    if len(body) != dims[0] * item:
        sys.exit(f"{path}: {len(body)} data bytes, expected {dims[0] * item}")
    return dims, item, body


def write_idx(path, magic, dims, body):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header)
            f.write(body)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    output = sys.argv[2] if len(sys.argv) > 2 else here
    for prefix, name, per_class in SPLITS:
        img_dims, img_size, images = read_idx(os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"), 0x00000803)
        lab_dims, _, labels = read_idx(os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"), 0x00000801)
        if img_dims[0] != lab_dims[0]:
            sys.exit(f"{prefix}: {img_dims[0]} images but {lab_dims[0]} labels")
        taken = [0] * CLASSES
        chosen = []
        for i, label in enumerate(labels):
            if taken[label] < per_class:
                taken[label] += 1
                chosen.append(i)
        if any(t != per_class for t in taken):
            sys.exit(f"{prefix}: not enough images per class: {taken}")
        sub_images = b"".join(images[i * img_size:(i + 1) * img_size] for i in chosen)
        sub_labels = bytes(labels[i] for i in chosen)
        n = len(chosen)
        img_path = os.path.join(output, f"fashion-mnist-subset-{name}-images.gz")
        lab_path = os.path.join(output, f"fashion-mnist-subset-{name}-labels.gz")
        write_idx(img_path, 0x00000803, (n,) + tuple(img_dims[1:]), sub_images)
        write_idx(lab_path, 0x00000801, (n,), sub_labels)
        for p in (img_path, lab_path):
            with open(p, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            print(f"{os.path.basename(p)}  {os.path.getsize(p)} bytes  sha256 {digest}")
        print(f"  {name}: {n} rows from {prefix} (source rows {chosen[0]}..{chosen[-1]})")


if __name__ == "__main__":
    main()
