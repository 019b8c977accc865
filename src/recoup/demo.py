"""``recoup demo``: the newcomer's first run (placeholder until the import lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        loans: int = typer.Option(0, help="Size knob: number of loans (0 = the shipped sample)."),
        serve: int = typer.Option(0, help="1 = start the web app afterwards (later issues)."),
    ) -> None:
        """Set up the embedded database and lake, import the sample extract, show the portfolio."""
        from recoup import migrate
        from recoup.db import get_engine

        migrate.upgrade(get_engine())
        typer.echo("recoup demo: database ready")
