"""Encoding and decoding of fixed-slot plate texts (the recognizer's output format).

A text of up to K characters is K class indices: the characters' indices in the alphabet, then the pad index
(``len(alphabet)``) for the unused slots. ``?`` (a masked / unknown character) encodes as ``ignore`` so the
loss and the metrics skip it, unless the alphabet itself has ``?`` (then the model learns to say "masked").
CTC outputs are decoded by :func:`decode_ctc`.
"""

from __future__ import annotations

import numpy as np

IGNORE = -100


def encode_text(text: str, alphabet: str, slots: int, ignore: int = IGNORE) -> np.ndarray:
    """Class indices (int64, shape (slots,)) for ``text``; raises ValueError for unknown characters or overflow."""
    if len(text) > slots:
        raise ValueError(f"text {text!r} has {len(text)} characters; the model reads at most {slots}")
    out = np.full(slots, len(alphabet), np.int64)
    for i, ch in enumerate(text):
        if ch == "?" and "?" not in alphabet:  # a CTC alphabet has "?" as a class: masked characters are read
            out[i] = ignore
            continue
        k = alphabet.find(ch)
        if k < 0:
            raise ValueError(f"character {ch!r} of {text!r} is not in the alphabet {alphabet!r}")
        out[i] = k
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def decode_slots(logits: np.ndarray, alphabet: str) -> list[tuple[str, float, tuple[float, ...]]]:
    """Decode (B, K, len(alphabet) + 1) logits into (text, confidence, char_confidences) per image.

    Reading stops at the first pad slot. ``confidence`` is the smallest top-1 probability among the character
    slots and the first pad slot (so an uncertain end of text lowers it too).
    """
    probs = softmax(logits.astype(np.float32))
    best = probs.argmax(-1)
    top = probs.max(-1)
    pad = len(alphabet)
    out = []
    for b in range(probs.shape[0]):
        ends = np.flatnonzero(best[b] == pad)
        n = int(ends[0]) if ends.size else probs.shape[1]
        text = "".join(alphabet[i] for i in best[b, :n])
        chars = tuple(float(p) for p in top[b, :n])
        considered = top[b, : min(n + 1, probs.shape[1])]
        out.append((text, float(considered.min()) if considered.size else 0.0, chars))
    return out


def char_alternatives(logits: np.ndarray, alphabet: str, k: int = 3) -> list[list[list[tuple[str, float]]]]:
    """Per image, per slot: the ``k`` most likely symbols with probabilities (``""`` stands for the pad)."""
    probs = softmax(logits.astype(np.float32))
    symbols = list(alphabet) + [""]
    order = np.argsort(-probs, axis=-1)[..., :k]
    return [
        [[(symbols[i], float(probs[b, s, i])) for i in order[b, s]] for s in range(probs.shape[1])]
        for b in range(probs.shape[0])
    ]


def text_confidences(logits: np.ndarray, text: str, alphabet: str) -> tuple[float, tuple[float, ...]]:
    """Confidence and per-character probabilities of a given ``text`` under one plate's (K, len(alphabet) + 1)
    slot logits, scored as :func:`decode_slots` scores its own read (the smallest probability among the
    character slots and the pad slot after them)."""
    probs = softmax(logits.astype(np.float32))
    chars = tuple(float(probs[i, alphabet.index(c)]) for i, c in enumerate(text))
    end = (float(probs[len(text), len(alphabet)]),) if len(text) < probs.shape[0] else ()
    considered = chars + end
    return (min(considered) if considered else 0.0), chars


def decode_ctc(logits: np.ndarray, alphabet: str) -> list[tuple[str, float, tuple[float, ...]]]:
    """Greedy CTC decoding of (B, T, len(alphabet) + 1) logits (class 0 = blank, class k = alphabet[k - 1]).

    A character's confidence is its best probability over the frames that emitted it; the read's
    confidence is the smallest character confidence (0 when nothing was read).
    """
    probs = softmax(logits.astype(np.float32))
    best = probs.argmax(-1)
    top = probs.max(-1)
    out = []
    for b in range(probs.shape[0]):
        text, confs, prev = [], [], 0
        for t, k in enumerate(best[b]):
            if k != 0 and k != prev:
                text.append(alphabet[k - 1])
                confs.append(float(top[b, t]))
            elif k != 0 and k == prev:
                confs[-1] = max(confs[-1], float(top[b, t]))
            prev = k
        out.append(("".join(text), min(confs) if confs else 0.0, tuple(confs)))
    return out
