"""Templates cannot exhaust memory or time, nor read files (issue 17 F16, F11): each bomb is a
problem that refuses activation, found in well under a second."""

from __future__ import annotations

import time

import pytest

from recoup.contact.sandbox import MAX_OUTPUT
from recoup.contact.templates import MessageTemplate, check_template
from recoup.contact.vocab import Channel

OK = "【示例金融】{{ borrower_name }}您好，您的借款已逾期，请及时还款。退订回T"
BOMBS = {
    "string-multiply": "{{ 'x' * 4000000000 }}",
    "reversed-multiply": "{{ 4000000000 * 'x' }}",
    "list-multiply": "{{ [1] * 4000000000 }}",
    "nested-range": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "huge-range": "{% for i in range(10**12) %}{% endfor %}",
    "center": "{{ 'x'.center(1000000000) }}",
    "power": "{{ 10 ** 100000000 }}",
    "long-output": "{% for i in range(5000) %}xxxxxxxxxx{% endfor %}",
    "include-file": "{% include '/etc/passwd' %}",
    "import-file": "{% import '/etc/passwd' as x %}",
    "concat-growth": "{% set s = 'x' * 15000 %}{{ s + s }}",
}


@pytest.mark.parametrize("body", BOMBS.values(), ids=BOMBS.keys())
def test_a_template_bomb_is_refused_quickly(body: str) -> None:
    tpl = MessageTemplate("bomb", Channel.SMS, "zh_CN", OK + body)
    t0 = time.monotonic()
    problems = check_template(tpl, preset="cn")
    assert time.monotonic() - t0 < 5
    rendering = [p for p in problems if p.rule == "TEMPLATE"]
    assert rendering and all("cannot render" in p.message for p in rendering), problems
    assert "root:" not in " ".join(p.message for p in problems)  # no file content leaks


def test_ordinary_templates_still_render() -> None:
    body = OK + "{% for i in range(3) %}{{ i }}{% endfor %}{{ '-' * 3 }}"
    assert [
        p
        for p in check_template(MessageTemplate("fine", Channel.SMS, "zh_CN", body), preset="cn")
        if p.rule == "TEMPLATE"
    ] == []
    assert MAX_OUTPUT >= 10_000
