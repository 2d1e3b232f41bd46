"""Flow primitives: the context a flow runs in, the turn it returns, and the registry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from xinqiao.clock import Clock
from xinqiao.messages import Choice, Inbound, Reply
from xinqiao.services.access import Actor, actor_for
from xinqiao.services.refs import starts_with_ref
from xinqiao.services.work import Session, Work
from xinqiao.settings import Settings
from xinqiao.vocabulary import Account, Member, PersonView, Role

P = ParamSpec("P")
T = TypeVar("T")


class Conversation(Protocol):
    """The state API of one account's conversation: where it is and what it has kept."""

    flow: str | None
    step: str | None
    data: dict[str, Any]
    suspended: dict[str, Any]  # flow id -> progress kept to resume (and flows' own marks)
    choices: list[list[str]]  # the tappable choices last offered
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class Context:
    """Everything a flow may use while handling one inbound message, in one transaction.

    Frozen: a flow changes the conversation through ``state`` and the world through services
    (``run``); it holds no database session.
    """

    work: Work
    clock: Clock
    settings: Settings
    identity: Account
    person: PersonView | None
    roles: frozenset[Role]
    state: Conversation
    inbound: Inbound
    flows: FlowRegistry

    @property
    def bound(self) -> bool:
        """True when this chat account is bound to a roster person."""
        return self.person is not None

    async def actor(self) -> Actor:
        """The bound person as the access matrix sees them (their roles and units)."""
        assert self.person is not None
        return await self.work.run(actor_for, self.person, self.roles)

    async def run(self, service: Callable[Concatenate[Session, P], Awaitable[T]],
                  /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call a service in this turn's unit of work (it gets the session first)."""
        return await self.work.run(service, *args, **kwargs)


@dataclass(frozen=True)
class Turn:
    """What a flow step returns: replies, the next step (None ends the flow) and its data."""

    replies: tuple[Reply, ...]
    next_step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The message is not for this flow (e.g. another flow's trigger word typed while browsing):
    # the engine leaves the flow and routes the message as if no flow were running.
    handoff: bool = False

    @classmethod
    def end(cls, *replies: Reply) -> Turn:
        """Reply and leave the flow."""
        return cls(tuple(replies), None, {})

    @classmethod
    def pass_on(cls) -> Turn:
        """Leave the flow and let the engine route this message afresh."""
        return cls((), None, {}, handoff=True)

    @classmethod
    def ask(cls, step: str, data: dict[str, Any], *replies: Reply) -> Turn:
        """Reply and wait in ``step``."""
        return cls(tuple(replies), step, data)


@dataclass(frozen=True)
class Interception:
    """What an engine interceptor answers before any flow sees a message."""

    replies: tuple[Reply, ...]
    pause: bool = False  # leave the flow the person was in (a resumable one keeps its progress)
    # Then wait in this (flow id, step, data): a question the next message answers.
    enter: tuple[str, str, dict[str, Any]] | None = None


def leave_flow(state: Conversation, flow: Flow | None) -> None:
    """Leave the conversation's current flow; a resumable one keeps its progress for later.

    A flow says so with ``resumable = True``; a step named ``__…`` (a question of the engine's
    own, such as "continue or restart?") is never kept.
    """
    resumable = flow is not None and getattr(flow, "resumable", False)
    if flow is not None and resumable and state.step and not state.step.startswith("__"):
        state.suspended = {**state.suspended, flow.id: {"step": state.step, "data": state.data}}
    state.flow, state.step, state.data = None, None, {}


def control_words(flow: Flow | None) -> frozenset[str]:
    """The exact words a flow takes as instructions while it waits (``control_words``: the
    screening's 不想做了), which the crisis watch must not read as a disclosure by the model
    alone — the flow acts on them itself (stopping the ASQ makes the outreach urgent)."""
    return frozenset(getattr(flow, "control_words", frozenset()))


def names_dangers(flow: Flow | None) -> bool:
    """Whether this flow asks the person to write about their own dangers (``names_dangers =
    True``: the safety plan's warning signs and the means to put away), so that words only the
    model finds alarming are answers, not disclosures; what the rules know still counts."""
    return bool(getattr(flow, "names_dangers", False))


def talks_through_crisis(flow: Flow | None) -> bool:
    """Whether crisis words in this flow go on to it rather than pause it (``talks_through_crisis
    = True``: a conversation with staff, where the words are passed on as they are)."""
    return bool(getattr(flow, "talks_through_crisis", False))


class Flow(Protocol):
    """A conversation capability: started from the menu or a trigger word, stepped per message."""

    id: str
    title: str
    triggers: tuple[str, ...]

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Whether this person may start the flow."""
        ...

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Begin the flow; ``argument`` is any text after the trigger word."""
        ...

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Handle ``ctx.inbound`` while waiting in ``step``."""
        ...


class FlowRegistry:
    """The explicit list of flows the engine knows; no import magic."""

    def __init__(self, flows: Iterable[Flow] = ()) -> None:
        self._flows: dict[str, Flow] = {}
        for flow in flows:
            self.add(flow)

    def add(self, flow: Flow) -> None:
        """Register a flow; ids are unique."""
        if flow.id in self._flows:
            raise ValueError(f"flow {flow.id!r} registered twice")
        self._flows[flow.id] = flow

    def get(self, flow_id: str | None) -> Flow | None:
        """The flow with this id, if registered."""
        return self._flows.get(flow_id) if flow_id else None

    def __contains__(self, flow_id: str) -> bool:
        return flow_id in self._flows

    def by_trigger(self, text: str) -> tuple[Flow, str] | None:
        """The flow whose trigger word starts ``text``, and the rest of the text."""
        lowered = text.strip().lower()
        best: tuple[int, Flow, str] | None = None
        for flow in self._flows.values():
            for trig in flow.triggers:
                if lowered == trig or lowered.startswith(trig + " ") or (
                    not trig.isascii() and lowered.startswith(trig)
                ):
                    rest = text.strip()[len(trig):].strip()
                    if best is None or len(trig) > best[0]:
                        best = (len(trig), flow, rest)
        return (best[1], best[2]) if best else None

    def command(self, text: str) -> tuple[Flow, str] | None:
        """The flow a message names as a command: a trigger alone, or followed by a space,
        a number, ``#`` or a lettered number (``收到 7``, ``收到7``, ``收到D7``, ``待办``,
        ``学生信息 张三``), never a trigger
        that merely starts a sentence (``预约了咨询但没去`` is an answer, not a command)."""
        found = self.by_trigger(text)
        if found is None:
            return None
        flow, rest = found
        stripped = text.strip()
        after = stripped[len(stripped) - len(rest) - 1] if rest else ""
        if rest and not (after.isspace() or rest[0].isdecimal() or rest[0] in "#＃"
                         or rest[0] in "０１２３４５６７８９" or starts_with_ref(rest)):
            return None
        return flow, rest


def flow_choice(flow_id: str, label: str) -> Choice:
    """A choice that starts a flow when tapped."""
    return Choice(f"flow:{flow_id}", label)


class OneShotFlow:
    """A flow that answers once and ends (bound people only unless a subclass says otherwise)."""

    id = ""
    title = ""
    triggers: tuple[str, ...] = ()

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Bound people."""
        return person is not None

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """One-shot flows never wait; answer afresh with whatever was typed."""
        return await self.start(ctx, ctx.inbound.text)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Answer and end."""
        raise NotImplementedError
