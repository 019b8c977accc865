"""``recoup template lint``: lint a message template (a file or ``--text``).

Exit status: 0 no findings, 1 findings, 64 bad input (an unknown preset, locale, channel or party:
:class:`LintInputError`), 66 a file that cannot be read; the main CLI prints the error. With ``--json``
stdout holds exactly one JSON object ``{"ok", "findings": [...]}``, or the error envelope.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from recoup.console import make_console
from recoup.contact.linter.model import LintContext, LintFileError, LintInputError, LintResult

__all__ = ["add_lint", "register"]


def _read(file: Path | None, text: str | None) -> str:
    if (file is None) == (text is None):
        raise LintInputError("请给出文件或 --text 之一 · give exactly one of FILE or --text")
    if text is not None:
        return text
    assert file is not None
    try:
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LintFileError(f"文件不存在 · no such file: {file}", details={"file": str(file)}) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LintFileError(
            f"无法读取文件 · cannot read {file}: {exc}", details={"file": str(file)}
        ) from None


def _print_table(result: LintResult) -> None:
    console = make_console()
    if result.ok:
        console.print("[green]OK[/] 未发现问题 · no findings")
        return
    table = Table(title=f"{len(result.findings)} finding(s) · 发现问题")
    for col in ("rule", "span", "excerpt", "message"):
        table.add_column(col)
    for f in result.findings:
        # The learned check's finding shows its score (得分), the probability it gave.
        message = f.message if f.score is None else f"{f.message} (得分 score {f.score:.2f})"
        table.add_row(escape(f.rule), f"{f.span[0]}–{f.span[1]}", escape(f.excerpt), escape(message))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add a ``template`` command group with ``lint`` to ``app``."""
    template_app = typer.Typer(help="Message templates · 话术模板。", no_args_is_help=True)
    add_lint(template_app)
    app.add_typer(template_app, name="template")


def add_lint(template_app: typer.Typer) -> None:
    """Add the ``lint`` command to a ``template`` command group."""

    @template_app.command("lint")
    def lint_cmd(
        file: Path | None = typer.Argument(None, metavar="[FILE]", help="The template (UTF-8), one message."),
        text: str | None = typer.Option(None, "--text", help="The message itself instead of a file."),
        preset: str = typer.Option("cn", "--preset", help="cn, us, us-ma, uk, in, eu or no."),
        locale: str = typer.Option("zh_CN", "--locale", help="zh_* or en_*."),
        channel: str | None = typer.Option(None, "--channel", help="sms, email, voicemail, robot_call …"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        signature: list[str] = typer.Option(
            [], "--signature", help="A registered SMS 【签名】 (repeatable)."
        ),
        allow_domain: list[str] = typer.Option(
            [], "--allow-domain", help="A whitelisted link domain (repeatable)."
        ),
        party: str = typer.Option(
            "debtor", "--party", help="debtor, guarantor, emergency_contact, third_party."
        ),
        first_contact: bool = typer.Option(False, "--first-contact", help="The first communication (US)."),
        time_barred: bool = typer.Option(
            False, "--time-barred", help="The debt is past the limitation period."
        ),
        ai_consent: bool = typer.Option(
            False, "--ai-consent", help="Consent to artificial-voice calls on file."
        ),
    ) -> None:
        """Check a message for content that must never go out, and the channel's mandatory content."""
        message = _read(file, text)
        context = LintContext(
            sms_signatures=frozenset(s.strip("【】 ") for s in signature),
            allowed_domains=frozenset(d.lower() for d in allow_domain),
            time_barred=time_barred,
            consent_ai_voice=ai_consent,
            first_contact=first_contact,
            party=party,
        )
        from recoup.contact.linter.engine import lint  # the lexicon is slow to load: not for `--help`

        result = lint(message, preset=preset, locale=locale, channel=channel, context=context)
        if as_json:
            typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            _print_table(result)
        if not result.ok:
            raise typer.Exit(code=1)
