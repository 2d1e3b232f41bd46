"""Run ``xinqiao`` under cProfile, profiling only from SIGUSR1 until the process stops.

``bench/webhook.py --profile FILE`` starts ``serve`` this way and signals it just before the
measured load, so binding the users and the start-up stay out of the profile:

    python bench/profile_serve.py OUT.prof serve --port 8080
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType


def main() -> None:
    """Profile the main thread from SIGUSR1; write ``argv[1]`` when the process exits."""
    out, args = sys.argv[1], sys.argv[2:]
    profile = cProfile.Profile()
    exit_now = os._exit

    def start(_sig: int, _frame: FrameType | None) -> None:
        profile.enable()

    def dump_and_exit(code: int) -> None:
        # serve ends with os._exit (no interpreter teardown): write the profile first.
        profile.disable()
        profile.dump_stats(out)
        exit_now(code)

    signal.signal(signal.SIGUSR1, start)
    os._exit = dump_and_exit  # type: ignore[assignment]
    from xinqiao.bot.cli import main as xinqiao

    xinqiao(args)


if __name__ == "__main__":
    main()
