"""Reading the corpus shards, shared by the Dask driver and the plain baseline (no Dask import)."""

import json
import os


def read_shards(corpus_dir):
    """Return the text of every shard listed in corpus_dir/manifest.json, in order."""
    with open(os.path.join(corpus_dir, "manifest.json")) as f:
        manifest = json.load(f)
    texts = []
    for shard in manifest["shards"]:
        with open(os.path.join(corpus_dir, shard["name"]), encoding="utf-8") as f:
            texts.append(f.read())
    return texts
