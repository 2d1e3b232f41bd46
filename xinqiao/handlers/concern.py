"""The concern question's answers: 有 / 没有 / 不想说, typed or tapped (services/concern).

The crisis and concern path of a text message, from the crisis watch (handlers/crisis_watch.py)
to this flow and the timer that ends its wait:

```mermaid
stateDiagram-v2
    [*] --> Watched: a text message, before any flow sees it
    Watched --> [*]: no crisis words / a clinical note / a flow's own word (不想做了)
    Watched --> [*]: model-only concern about a report's student (the report carries it)
    Watched --> StaffCare: a staff member's own words
    StaffCare --> [*]: a private word to the centre lead
    Watched --> Asked: concern level, the writer's own words, nothing adds up
    Watched --> Crisis: crisis level / about someone else / signals add up
    Asked --> Asked: not understood (asked again)
    Asked --> Crisis: 有 / 不想说 / no answer within the wait (timer)
    Asked --> Review: 没有
    Review --> [*]: a warm offer, a concern item the centre reviews
    Crisis --> [*]: care and hotlines, a crisis item alerts at once
```
"""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.crisis_texts import MY_SAFETY_PLAN, SAFETY_PLAN, crisis_reply
from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services.concern import concern_texts, settle
from xinqiao.services.network import Network
from xinqiao.services.safety_plan import latest_plan
from xinqiao.vocabulary import Member, Role

CONCERN_FLOW = "concern_check"
ASK_STEP = "ask"


def concern_question() -> Reply:
    """The direct question, with the three tappable answers."""
    t = concern_texts()
    return Reply(t.question, (Choice("concern:yes", t.yes), Choice("concern:no", t.no),
                              Choice("concern:decline", t.decline)))


class ConcernCheckFlow:
    """Waits for the answer to the concern question; never started by hand."""

    id = CONCERN_FLOW
    title = "关心询问"
    triggers: tuple[str, ...] = ()

    def __init__(self, network: Network) -> None:
        self.network = network

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """The crisis watch puts a chat here; nobody starts it."""
        return False

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Not startable."""
        return Turn.end()

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Take the answer and act on it."""
        t = concern_texts()
        choice = ctx.inbound.choice or ""
        answer = (choice.partition(":")[2] if choice.startswith("concern:")
                  else t.answer_of(ctx.inbound.text))
        if answer is None:
            return Turn.ask(step, data, Reply(t.again, concern_question().choices))
        outcome = await ctx.run(settle, self.network, int(data["report"]), answer,
                                ctx.clock.now())
        if outcome == "crisis":
            return Turn.end(crisis_reply(ctx.settings, plan=_student(ctx),
                                         has_plan=await _has_plan(ctx)))
        if outcome == "late":
            return Turn.end(Reply(t.late, (Choice("menu", "主菜单"),)))
        offers: tuple[Choice, ...] = (Choice("menu", "主菜单"),)
        if ctx.person is not None:
            offers = (flow_choice("booking", "预约心理咨询"), flow_choice("breathing", "呼吸练习"),
                      *((MY_SAFETY_PLAN if await _has_plan(ctx) else SAFETY_PLAN,)
                        if _student(ctx) else ()),
                      *offers)
        return Turn.end(Reply(t.no_reply, offers))


def _student(ctx: Context) -> bool:
    """A bound student, who has a safety plan of their own to write."""
    return ctx.person is not None and "student" in ctx.roles


async def _has_plan(ctx: Context) -> bool:
    """Whether the student has written a safety plan (offered to read, then, not to write)."""
    return _student(ctx) and ctx.person is not None and ctx.person.id is not None \
        and await ctx.run(latest_plan, ctx.person.id) is not None
