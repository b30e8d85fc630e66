#!/usr/bin/env python3
"""Grow a Qwen3 checkpoint in depth and width without changing what it computes (issue 15, item 3).

  tools/grow_model.py SRC_DIR DST_DIR --heads 8 --insert-after 1,3 [--seed 0]

Used for the candidate default model (docs/default-model.md, "A larger model on longer traces"):
the default model (6 layers, 6 query heads) becomes an 8-layer, 8-head model whose outputs are the
same (up to bf16 rounding of nothing: the old weights are copied bit for bit), and SFT then trains it
on longer search traces (configs/candidate-model.yaml).

- More query heads per KV head: old head h of KV group g keeps its q_proj rows and o_proj columns; each
  group gets (heads - old_heads) / kv_heads new heads with small random q_proj rows and zero o_proj
  columns, so their output is zero until training moves them.
- More layers: after each layer named in --insert-after a copy of that layer is inserted with o_proj and
  down_proj set to zero (block expansion as in LLaMA Pro): the new block adds nothing to the residual
  stream at first.
Only the Python standard library (bf16 tensors are handled as 16-bit integers).
"""
import argparse
import array
import json
import os
import random
import shutil
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "BF16":
            sys.exit(f"{path}: tensor {name} is {info['dtype']}; this tool handles BF16 only")
        begin, end = info["data_offsets"]
        values = array.array("H")
        values.frombytes(data[begin:end])
        tensors[name] = (list(info["shape"]), values)
    return tensors


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        shape, values = tensors[name]
        blob = values.tobytes()
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def bf16(x):
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16


def random_rows(rng, count, std):
    return array.array("H", (bf16(rng.gauss(0.0, std)) for _ in range(count)))


def grow_heads(tensors, prefix, old_heads, new_heads, kv_heads, head_dim, hidden, rng):
    old_per_group, new_per_group = old_heads // kv_heads, new_heads // kv_heads
    # The old head each new head copies (None: a new head), group by group.
    sources = [g * old_per_group + j if j < old_per_group else None
               for g in range(kv_heads) for j in range(new_per_group)]
    q_shape, q = tensors[prefix + "q_proj.weight"]
    o_shape, o = tensors[prefix + "o_proj.weight"]
    row = head_dim * hidden  # one head's q_proj rows, flattened
    new_q = array.array("H")
    for h in sources:
        new_q.extend(q[h * row:(h + 1) * row] if h is not None else random_rows(rng, row, 0.02))
    new_o = array.array("H")
    zero = array.array("H", [0] * head_dim)
    for r in range(hidden):
        line = o[r * old_heads * head_dim:(r + 1) * old_heads * head_dim]
        for h in sources:
            new_o.extend(line[h * head_dim:(h + 1) * head_dim] if h is not None else zero)
    tensors[prefix + "q_proj.weight"] = ([new_heads * head_dim, hidden], new_q)
    tensors[prefix + "o_proj.weight"] = ([hidden, new_heads * head_dim], new_o)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--heads", type=int, required=True, help="query heads of the grown model")
    p.add_argument("--insert-after", default="", help="comma-separated layer indices of the source")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    with open(os.path.join(a.src, "config.json")) as f:
        config = json.load(f)
    if config.get("model_type") != "qwen3":
        sys.exit(f"{a.src}/config.json: model_type {config.get('model_type')!r}; this tool grows qwen3 only")
    tensors = read_safetensors(os.path.join(a.src, "model.safetensors"))
    heads, kv, hd, hidden = (config["num_attention_heads"], config["num_key_value_heads"],
                             config["head_dim"], config["hidden_size"])
    layers = config["num_hidden_layers"]
    if a.heads < heads or a.heads % kv:
        sys.exit(f"--heads {a.heads}: must be >= {heads} and a multiple of the {kv} KV heads")
    if heads % kv:
        sys.exit(f"{a.src}/config.json: {heads} heads are not a multiple of {kv} KV heads")
    for i in range(layers):
        grow_heads(tensors, f"model.layers.{i}.self_attn.", heads, a.heads, kv, hd, hidden, rng)
    inserts = [int(x) for x in a.insert_after.split(",") if x.strip()]
    if any(i < 0 or i >= layers for i in inserts):
        sys.exit(f"--insert-after {a.insert_after}: layers are 0..{layers - 1}")
    order = []  # (source layer, is a zeroed copy)
    for i in range(layers):
        order.append((i, False))
        order += [(i, True)] * inserts.count(i)
    grown = {k: v for k, v in tensors.items() if not k.startswith("model.layers.")}
    for new, (old, copy) in enumerate(order):
        for name, (shape, values) in tensors.items():
            head = f"model.layers.{old}."
            if not name.startswith(head):
                continue
            leaf = name[len(head):]
            if copy and leaf in ("self_attn.o_proj.weight", "mlp.down_proj.weight"):
                values = array.array("H", [0] * len(values))
            grown[f"model.layers.{new}.{leaf}"] = (shape, array.array("H", values))
    os.makedirs(a.dst, exist_ok=True)
    write_safetensors(os.path.join(a.dst, "model.safetensors"), grown)
    config["num_attention_heads"] = a.heads
    config["num_hidden_layers"] = len(order)
    with open(os.path.join(a.dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    for name in os.listdir(a.src):
        if name not in ("config.json", "model.safetensors") and os.path.isfile(os.path.join(a.src, name)):
            shutil.copy(os.path.join(a.src, name), os.path.join(a.dst, name))
    params = sum(len(v) for _, v in grown.values())
    print(f"grow_model: {a.src} ({layers} layers, {heads} heads) -> {a.dst} ({len(order)} layers, "
          f"{a.heads} heads), {params / 1e6:.2f} M parameters")


if __name__ == "__main__":
    main()
