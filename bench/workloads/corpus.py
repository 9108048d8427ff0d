"""Deterministic word-count corpus generator, written as shard files.

The text is a pure function of (seed, total bytes, shard count): it uses its
own integer PRNG (xorshift64*), never the `random` module, so CPython and PyPy
of any version write byte-identical shards. It is fast because the PRNG builds
a pool of lines once and the shards are drawn from that pool, one PRNG call
per line.

Usage: corpus.py OUT_DIR TOTAL_BYTES SHARDS SEED
Writes OUT_DIR/shard-00.txt ... and OUT_DIR/manifest.json (sizes, sha256s).
"""

import hashlib
import json
import os
import sys

GENERATOR_VERSION = 1
VOCABULARY_SIZE = 20000
LINE_POOL_SIZE = 32768
SYLLABLES = (
    "ka ri to mo na se lu pi do fe ga hi ju ko le ma ne or pa qu ra si te "
    "ul va we xi yo za an be ci de el fi go ha in jo ke li mu no os pu ro "
    "sa ti um vi wa ye zo ab ed ig ob ux"
).split()
MASK64 = (1 << 64) - 1


class Xorshift64Star:
    """A small 64-bit PRNG whose output depends only on the seed."""

    def __init__(self, seed):
        self.state = (seed * 0x9E3779B97F4A7C15 + 1) & MASK64 or 1

    def next_u32(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.state = x
        return ((x * 0x2545F4914F6CDD1D) & MASK64) >> 32

    def below(self, n):
        """An integer in [0, n) (n < 2**32; the tiny modulo bias is fine here)."""
        return self.next_u32() % n


def make_vocabulary(rng):
    words = []
    seen = set()
    while len(words) < VOCABULARY_SIZE:
        syllable_count = 1 + rng.below(4)
        word = "".join(SYLLABLES[rng.below(len(SYLLABLES))] for _ in range(syllable_count))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def skewed_index(rng, n):
    """Zipf-like: low indices are much more frequent (u**3 of a uniform u)."""
    u = rng.next_u32()
    return (u * u * u * n) >> 96


def make_line_pool(rng, words):
    lines = []
    for _ in range(LINE_POOL_SIZE):
        length = 6 + rng.below(9)
        lines.append(" ".join(words[skewed_index(rng, len(words))] for _ in range(length)) + "\n")
    return lines


def make_shard(rng, pool, target_bytes):
    parts = []
    size = 0
    while size < target_bytes:
        line = pool[rng.below(len(pool))]
        parts.append(line)
        size += len(line)
    return "".join(parts).encode("ascii")


def generate(out_dir, total_bytes, shard_count, seed):
    rng = Xorshift64Star(seed)
    pool = make_line_pool(rng, make_vocabulary(rng))
    os.makedirs(out_dir, exist_ok=True)
    shards = []
    for index in range(shard_count):
        data = make_shard(rng, pool, total_bytes // shard_count)
        name = "shard-%02d.txt" % index
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        shards.append({"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {
        "generatorVersion": GENERATOR_VERSION,
        "seed": seed,
        "totalBytesTarget": total_bytes,
        "totalBytes": sum(s["bytes"] for s in shards),
        "shards": shards,
    }
    with open(os.path.join(out_dir, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(out_dir, "manifest.json.tmp"), os.path.join(out_dir, "manifest.json"))
    return manifest


if __name__ == "__main__":
    out, total, shards, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(generate(out, total, shards, seed)))
