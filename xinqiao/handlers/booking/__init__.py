"""Counselling booking in chat: the student's booking, the counsellor's desk, duty, statistics.

The student's 预约 flow (handlers/booking/student.py), by its string steps:

```mermaid
stateDiagram-v2
    [*] --> [*]: 退出候补 typed (off the waitlist)
    [*] --> proposal: a counsellor's move proposal is open
    [*] --> offer: a waitlist offer is held
    [*] --> mine: an upcoming appointment
    [*] --> slots: nothing booked
    proposal --> [*]: a new time / keep the original / cancel (counsellor on leave)
    offer --> [*]: take it (booked) / pass / leave (暂时不需要 if a screen placed them)
    offer --> slots: pass, placed by a screen (told so; 看看其他时间 / 退出候补)
    mine --> cancel: 取消预约
    cancel --> [*]: 确定取消 (slot freed, waitlist offered) / 不取消
    mine --> slots: 改约 (the pick reschedules at once)
    mine --> [*]: too late to change (details and the cut-off)
    slots --> slots: 更多时间 (next page)
    slots --> filter: 筛选
    filter --> slots: a filter or a day
    slots --> [*]: 加入候补 (waitlist) / 退出候补 (placed by a screen) / rescheduled
    slots --> mode: a slot open 线下或线上
    slots --> reason: a slot
    mode --> reason: 线下 / 线上
    reason --> [*]: booked
    reason --> slots: the slot was just taken
```
"""

from xinqiao.handlers.booking import texts
from xinqiao.services.booking import wording

# The booking services push in this package's words (a booking, a cancellation, a reminder).
wording.words.use(texts)
