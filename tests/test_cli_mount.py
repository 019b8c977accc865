"""``recoup NAME …`` imports only the domains whose GROUPS entry names NAME (start-up time). Checked
against a full mount: for every command name, a fresh process that mounts only what the name selects
shows exactly the same command tree under that name (a mount function that adds to another group
must name that group too), and every top-level command is named by some entry."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import typer
    from recoup import cli, cli_mount

    def tree(cmd):
        subs = getattr(cmd, "commands", None)
        return {k: tree(v) for k, v in sorted(subs.items())} if subs else None

    def snapshot():
        return {k: tree(v) for k, v in typer.main.get_command(cli.app).commands.items()}

    # Mount the entries one at a time, in order: what each one changed at the top level (a group it
    # added, or one it extended, also by an import's side effect) must be among the names it declares.
    before, undeclared = snapshot(), []
    for index, entry in enumerate(cli_mount.GROUPS):
        cli._mount_entries([index])
        after = snapshot()
        changed = {k for k in after if after[k] != before.get(k)}
        undeclared += [[entry[0], entry[1], k] for k in sorted(changed - set(entry[3]))]
        before = after
    names = sorted({n for entry in cli_mount.GROUPS for n in entry[3]})
    print(json.dumps({"names": names, "top": sorted(before), "undeclared": undeclared}))
    """
)


def test_every_command_mounts_what_it_shows() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["undeclared"] == []
    # Every top-level command but `db` (defined in recoup.cli itself) is named by a GROUPS entry.
    assert set(doc["top"]) - {"db"} == set(doc["names"])


def test_a_command_imports_only_its_own_domain() -> None:
    """``recoup cycle …`` does not import the linter, the twin or the PDF renderer."""
    code = (
        "import sys; from recoup import cli; cli._mount(['cycle', 'status']); "
        "print(sorted(m for m in ('recoup.contact.linter', 'recoup.simulate.world', "
        "'recoup.resolutions.documents') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_command_name_is_found_after_root_options() -> None:
    from recoup.cli import _command_in

    assert _command_in(["--lang", "en", "demo", "--loans", "5"]) == "demo"
    assert _command_in(["--lang=en", "report", "portfolio"]) == "report"
    assert _command_in(["--help"]) is None
    assert _command_in([]) is None
