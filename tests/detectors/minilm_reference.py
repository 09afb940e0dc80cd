"""all-MiniLM-L6-v2's forward pass written out in NumPy, step by step as the BERT paper and
sentence-transformers' mean pooling give it: the reference the ONNX graph in
``correspondence_guard.detectors.encoder`` is checked against."""

from __future__ import annotations

from typing import Any

import numpy as np
from safetensors.numpy import load_file

from correspondence_guard.detectors.encoder import model_dir

_HEADS = 12
_EPS = 1e-12


def weights() -> tuple[dict[str, np.ndarray[Any, Any]], int]:
    w = {k: v.astype(np.float32) for k, v in load_file(str(model_dir() / "model.safetensors")).items()}
    for k in [
        k
        for k in w
        if k.endswith("dense.weight") or k.endswith(("query.weight", "key.weight", "value.weight"))
    ]:
        w[k] = np.ascontiguousarray(w[k].T)
    return w, 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.layer."))


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


def forward(w: dict[str, np.ndarray[Any, Any]], layers: int, sequence: list[int]) -> np.ndarray[Any, Any]:
    """One sentence's unit vector (a batch of one: nothing is padded)."""
    ids = np.array([sequence], dtype=np.int64)
    mask = np.ones(ids.shape, dtype=np.float32)
    length = ids.shape[1]
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
    for n in range(layers):
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
    result: np.ndarray[Any, Any] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)
    return result
