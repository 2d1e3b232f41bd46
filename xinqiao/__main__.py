"""``python -m xinqiao`` is the ``xinqiao`` command."""

from xinqiao.bot.cli import main

main()
