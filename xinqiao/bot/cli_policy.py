"""``xinqiao policy check``: validate a centre's policy file before it is deployed."""

from __future__ import annotations

from pathlib import Path

import click

from xinqiao.bot.cli_support import settings_or_exit
from xinqiao.clock import SystemClock


@click.group()
def policy() -> None:
    """The escalation, check-in and calendar policy."""


@policy.command("check")
@click.option("--file", "path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The policy file to check (default: XINQIAO_POLICY_FILE, else the packaged).")
def check(path: Path | None) -> None:
    """Load the policy as `serve` does; name the file and field of every problem."""
    from xinqiao.policy.policy import PolicyError, load_policy
    from xinqiao.services.calendar_notice import horizon_warning

    try:
        loaded = load_policy(path or settings_or_exit().policy_file)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    years = sorted(loaded.calendar_years)
    declared = f"; declared years: {', '.join(map(str, years))}" if years else ""
    click.echo(f"policy ok: official calendar known until "
               f"{loaded.calendar().known_until}{declared}")
    if (warning := horizon_warning(loaded, SystemClock().now())) is not None:
        click.echo(f"warning: {warning}")
