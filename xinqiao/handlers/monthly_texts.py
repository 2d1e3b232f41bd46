"""The 月报's push in words: a college's month is ready for its lead to read and confirm."""

from __future__ import annotations

from datetime import date

from xinqiao.messages import Reply
from xinqiao.services.monthly import report as monthly
from xinqiao.services.monthly.report import month_label


class MonthlyTexts:
    """The wording :mod:`xinqiao.services.monthly.report` asks for."""

    def generated(self, college: str, month: date) -> Reply:
        """Where to read it and what to do next."""
        return Reply(f"{college}{month_label(month)}的心理工作月报已经生成啦。"
                     "请回复“月报”查看，确认无误后提交给心理中心。")


monthly.words.use(MonthlyTexts())
