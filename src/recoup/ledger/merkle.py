"""RFC 6962 (Certificate Transparency) Merkle trees over byte leaves. Pure: no database.

Leaf hash ``sha256(0x00 || data)``, interior node ``sha256(0x01 || left || right)``; a tree of ``n``
leaves splits at the largest power of two below ``n``, so every count works and the root of a prefix
never depends on later leaves. The empty tree's root is ``sha256(b"")``. Hashes travel as lowercase hex.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "MerkleAccumulator",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(data: bytes) -> bytes:
    """``sha256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``sha256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleAccumulator:
    """Appends leaves one at a time and gives the root of everything so far in O(log n).

    Keeps only the roots of the perfect subtrees (the binary decomposition of the size), so a
    verifier can stream millions of leaves and read the root of any prefix on the way.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
        self.size = 0
        for data in leaves:
            self.append(data)

    def append(self, data: bytes) -> None:
        """Add one leaf (raw data; it is leaf-hashed here)."""
        height, digest = 0, leaf_hash(data)
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            digest = node_hash(left, digest)
            height += 1
        self._stack.append((height, digest))
        self.size += 1

    def root(self) -> str:
        """Hex root of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest.hex()


def merkle_root(leaves: Iterable[bytes]) -> str:
    """Hex root of the tree over ``leaves``."""
    return MerkleAccumulator(leaves).root()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    k = _split(hi - lo)
    return node_hash(_subtree(hashes, lo, lo + k), _subtree(hashes, lo + k, hi))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[str]:
    """Audit path (hex, leaf level first) proving ``leaves[index]`` is in ``merkle_root(leaves)``."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    hashes = [leaf_hash(d) for d in leaves]
    path: list[bytes] = []
    lo, hi, m = 0, len(hashes), index
    while hi - lo > 1:  # walk down from the root; siblings are collected top-first
        k = _split(hi - lo)
        if m < k:
            path.append(_subtree(hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree(hashes, lo, lo + k))
            lo, m = lo + k, m - k
    return [h.hex() for h in reversed(path)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[str], root: str) -> bool:
    """True when ``proof`` shows raw ``leaf`` at ``index`` in a tree of ``size`` leaves with ``root``.

    The algorithm of RFC 9162 §2.1.3.2; malformed input gives False, never an exception.
    """
    if not 0 <= index < size:
        return False
    try:
        path = [bytes.fromhex(p) for p in proof]
        expected = bytes.fromhex(root)
    except (ValueError, TypeError):
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected
