"""A Jinja2 sandbox that also bounds work: no template can exhaust memory or time.

The stock sandbox stops attribute tricks but not ``'x' * 4000000000``, ``range(99999)`` nested
twice, or ``'x'.center(10**9)``. Here every rendering has a budget: loops over ``range`` may
produce at most :data:`MAX_ITERATIONS` items in all, arithmetic that builds a string or list is
capped at :data:`MAX_OUTPUT` characters, any call with an integer argument beyond
:data:`MAX_INT_ARG` is refused, and the rendered text itself stops at :data:`MAX_OUTPUT`
characters or after :data:`MAX_SECONDS`. A breach is a ``SecurityError``, which the template
checks report as a problem (so the version cannot be activated).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import DictLoader, StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 20_000  # characters: an SMS is 70, a long email a few thousand
MAX_ITERATIONS = 10_000
MAX_INT_ARG = 100_000
MAX_SECONDS = 2.0


@dataclass
class _Budget:
    deadline: float
    iterations: int = 0

    def tick(self, n: int = 1) -> None:
        self.iterations += n
        if self.iterations > MAX_ITERATIONS:
            raise SecurityError(f"the template loops more than {MAX_ITERATIONS:,} times · 模板循环次数过多")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"the template takes longer than {MAX_SECONDS:g} s to render · 模板渲染超时")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "recoup_template_budget", default=None
)


def _current() -> _Budget:
    b = _budget.get()
    if b is None:  # rendering outside render_bounded (a direct Template.render): a fresh budget
        b = _Budget(time.monotonic() + MAX_SECONDS)
        _budget.set(b)
    return b


def _range(*args: int) -> Iterator[int]:
    for a in args:
        if abs(a) > MAX_INT_ARG * 10:
            raise SecurityError(f"range({', '.join(map(str, args))}) is too large · 范围过大")
    budget = _current()
    for i in range(*args):
        budget.tick()
        yield i


def _size(v: Any) -> int | None:
    return len(v) if isinstance(v, str | bytes | list | tuple) else None


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox with a work budget per rendering."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self) -> None:
        # An empty loader: {% include %} / {% import %} of anything is "not found", never a file.
        super().__init__(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, loader=DictLoader({})
        )
        self.globals["range"] = _range

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _current().tick()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                size = _size(seq)
                if size is not None and isinstance(n, int) and size * max(n, 0) > MAX_OUTPUT:
                    raise SecurityError(
                        f"the template builds a value over {MAX_OUTPUT:,} characters · 模板生成内容过长"
                    )
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large · 指数过大")
        if operator == "+":
            total = (_size(left) or 0) + (_size(right) or 0)
            if total > MAX_OUTPUT:
                raise SecurityError(
                    f"the template builds a value over {MAX_OUTPUT:,} characters · 模板生成内容过长"
                )
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _current().tick()
        for a in (*args, *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_INT_ARG:
                raise SecurityError(
                    f"a call with the argument {a} is refused (limit {MAX_INT_ARG:,}) · 参数过大"
                )
        return super().call(__context, __obj, *args, **kwargs)


def render_bounded(env: BoundedSandbox, source: str, values: Mapping[str, Any]) -> str:
    """Render ``source`` with a fresh budget; the text stops at :data:`MAX_OUTPUT` characters."""
    token = _budget.set(_Budget(time.monotonic() + MAX_SECONDS))
    try:
        parts: list[str] = []
        size = 0
        for chunk in env.from_string(source).generate(dict(values)):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise SecurityError(
                    f"the rendered text is longer than {MAX_OUTPUT:,} characters · 渲染结果过长"
                )
            _current().tick(0)
            parts.append(chunk)
        return "".join(parts)
    finally:
        _budget.reset(token)
