"""Identifier machinery: keyed bijections and fixed-width codes, so identifiers look random yet never collide.

Every identifier the generator writes is a bijective function of a counter (a customer index or a row
number), which makes uniqueness a property of the construction rather than something to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

_ROUNDS = 4


class Purpose(IntEnum):
    """Keys are derived from (seed, purpose), so each kind of identifier gets its own permutation."""

    ID_TAIL = 1
    ID_PROVINCE = 2
    PHONE_TAIL = 3
    PHONE_PREFIX = 4
    EMAIL_NUMBER = 5
    TRANSACTION_ID = 6


_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """A 64-bit finaliser (MurmurHash3's fmix64): every input bit affects every output bit."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def _round_keys(key: Sequence[int]) -> NDArray[np.uint64]:
    keys: NDArray[np.uint64] = (
        np.random.SeedSequence(key).generate_state(_ROUNDS, dtype=np.uint64).astype(np.uint64)
    )
    return keys


def permute(values: NDArray[np.int64], modulus: int, key: Sequence[int]) -> NDArray[np.int64]:
    """Map ``values`` (each in ``0..modulus-1``) through a keyed permutation of ``0..modulus-1``.

    A balanced Feistel network is a bijection on ``2**(2*half)`` values whatever its round function;
    cycle-walking (re-encrypting results that fall outside the range) restricts it to ``modulus`` values
    while keeping it a bijection.
    """
    if values.size and (int(values.min()) < 0 or int(values.max()) >= modulus):
        raise ValueError(f"values must lie in 0..{modulus - 1}")
    half = max(1, ((modulus - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    shift = np.uint64(half)
    keys = _round_keys(key)

    def encrypt(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
        left, right = x >> shift, x & mask
        for k in keys:
            left, right = right, left ^ (_mix(right ^ k) & mask)
        return (left << shift) | right

    out = encrypt(values.astype(np.uint64))
    pending = np.flatnonzero(out >= np.uint64(modulus))
    while pending.size:
        out[pending] = encrypt(out[pending])
        pending = pending[out[pending] >= np.uint64(modulus)]
    return out.astype(np.int64)


def uniform_hash(values: NDArray[np.int64], key: Sequence[int]) -> NDArray[np.float64]:
    """A deterministic, well-spread number in [0, 1) for each value: a pure function of value and key."""
    mixed = _mix(values.astype(np.uint64) ^ _round_keys(key)[0])
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def weighted_choice(u: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index into ``weights`` for each uniform ``u``, with probabilities proportional to the weights."""
    cumulative = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cumulative, u, side="right"), weights.size - 1).astype(np.int64)


def fixed_width(values: NDArray[np.int64], width: int, base: int = 10, prefix: bytes = b"") -> pa.Array:
    """Render non-negative integers as zero-padded strings in base 10 or 16, vectorised.

    Digits are filled in one column at a time, from the right, so no temporary is wider than the input;
    the character matrix then becomes the string array's data buffer as it is, without a copy.
    """
    size = len(prefix) + width
    if size * (values.size + 1) >= 2**31:
        raise ValueError(f"{values.size:,} values of {size} characters overflow one string array")
    chars = np.empty((values.size, size), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    rest = values.astype(np.uint64)
    radix = np.uint64(base)
    for column in range(size - 1, len(prefix) - 1, -1):
        rest, digit = np.divmod(rest, radix)
        chars[:, column] = np.take(_DIGITS, digit)
    # Plain (32-bit offset) strings: pyarrow's CSV writer is markedly slower on large_string.
    offsets = np.arange(0, size * (values.size + 1), size, dtype=np.int32)
    return pa.StringArray.from_buffers(values.size, pa.py_buffer(offsets), pa.py_buffer(chars))
