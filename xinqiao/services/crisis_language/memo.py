"""Short texts the crisis detector found nothing in, remembered so a repeat is cheap (issue 18)."""

from __future__ import annotations

import threading
from collections import OrderedDict


class QuietTexts:
    """A bounded least-recently-used set of short texts whose verdict was ``none``.

    Only quiet texts are kept (菜单, 好的, a form's 1-5): crisis and concern wording is never held
    beyond its own message and is checked afresh every time. Thread-safe (crisis_eval checks from
    threads).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._texts: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def knows(self, text: str) -> bool:
        """True when ``text`` was found quiet before (and it becomes the most recent)."""
        with self._lock:
            if text not in self._texts:
                return False
            self._texts.move_to_end(text)
            return True

    def add(self, text: str) -> None:
        """Remember ``text`` as quiet, forgetting the least recently used beyond the size."""
        with self._lock:
            self._texts[text] = None
            self._texts.move_to_end(text)
            while len(self._texts) > self.size:
                self._texts.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (the rules changed)."""
        with self._lock:
            self._texts.clear()
