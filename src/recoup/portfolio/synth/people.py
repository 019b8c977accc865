"""Synthetic people: names, national ids with GB 11643 check digits, mobile numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.portfolio.synth.vocab import _FEMALE_GIVEN, _MALE_GIVEN, _MOBILE_PREFIXES, SURNAMES

Ints = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]

# ------------------------------------------------------------------------------------------- people


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of a national id's first 17 digits."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


def _national_ids(
    area: Ints, birth: Days, male: npt.NDArray[np.bool_], rng: np.random.Generator
) -> list[str]:
    ymd = pl.Series(birth).cast(pl.Date).dt.strftime("%Y%m%d").cast(pl.Int64).to_numpy()
    order = rng.integers(0, 500, area.shape[0]) * 2 + np.where(male, 1, 0)  # odd for men, even for women
    body = area * 10**11 + ymd * 10**3 + order
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
    digits = (body[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))[None, :]) % 10
    check = np.array(list("10X98765432"))[(digits @ weights) % 11]
    text = pl.Series(body).cast(pl.String).str.zfill(17) + pl.Series(check)
    return text.to_list()


def _pick(rng: np.random.Generator, options: str | Sequence[str], n: int) -> npt.NDArray[np.str_]:
    return np.array(list(options))[rng.integers(0, len(options), n)]


def _names(rng: np.random.Generator, male: npt.NDArray[np.bool_]) -> npt.NDArray[np.str_]:
    """Surname + one or two given-name characters matching the gender."""
    n = male.shape[0]
    # Common surnames are much more frequent: weight by rank.
    weights = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.6
    sur = np.array(list(SURNAMES))[rng.choice(len(SURNAMES), n, p=weights / weights.sum())]
    first = np.where(male, _pick(rng, _MALE_GIVEN, n), _pick(rng, _FEMALE_GIVEN, n))
    second = np.where(male, _pick(rng, _MALE_GIVEN, n), _pick(rng, _FEMALE_GIVEN, n))
    given = np.where(rng.random(n) < 0.3, first, np.char.add(first, second))
    return np.char.add(sur, given)


def _mobiles(rng: np.random.Generator, n: int) -> list[str]:
    prefix = pl.Series(_pick(rng, _MOBILE_PREFIXES, n))
    rest = pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8)
    return (prefix + rest).to_list()
