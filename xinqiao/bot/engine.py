"""The conversation engine: one inbound message in, replies out, state saved, no channel I/O."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot import choices
from xinqiao.bot.choices import HELP_WORDS as HELP_WORDS  # re-exported for bot/lean.py
from xinqiao.bot.choices import MENU_WORDS as MENU_WORDS
from xinqiao.bot.identities import lock_identity
from xinqiao.clock import Clock, utc
from xinqiao.handlers.flow import (
    Context,
    Conversation,
    Flow,
    FlowRegistry,
    Interception,
    Turn,
    leave_flow,
)
from xinqiao.handlers.listening import LISTEN, reflection_for
from xinqiao.handlers.menu import Menu, help_reply
from xinqiao.handlers.wecom_texts import NOT_FOR_STUDENTS
from xinqiao.messages import Choice, Inbound, Reply
from xinqiao.services.access import refuse_flow
from xinqiao.services.directory import person_view, role_set
from xinqiao.services.wecom_people import WECOM
from xinqiao.services.wecom_people import admit as admit_on_wecom
from xinqiao.services.work import Work
from xinqiao.settings import Settings
from xinqiao.storage.models import ChannelIdentity, ConversationState, Person, Role

log = logging.getLogger(__name__)

# Checked before any flow sees the message. A hook returns replies that come first; outside a
# flow they are the whole answer. Inside one, the flow still gets the message (a crisis sentence
# about a roommate typed as a report answer is both alerted and kept in the report), unless the
# hook pauses the flow: after a person's own crisis words the form must not ask its next question.
Interceptor = Callable[[Context], Awaitable[Interception | None]]

class Engine:
    """Routes a message to the right flow and keeps per-identity conversation state."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        flows: FlowRegistry,
        menu: Menu,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.flows = flows
        self.menu = menu
        self.interceptors = tuple(interceptors)

    async def handle(
        self, session: AsyncSession, inbound: Inbound, identity: ChannelIdentity | None = None
    ) -> list[Reply]:
        """Handle one message inside the caller's transaction and return the replies.

        ``identity`` is the sender's row if the caller has already locked it.
        """
        now = self.clock.now()
        if identity is None:
            identity = await lock_identity(session, inbound.channel, inbound.address, now)
        identity.last_inbound_at = now
        identity.reachable = True
        if identity.channel == WECOM and not await admit_on_wecom(session, identity, now):
            session.add(identity)  # WeCom serves staff: students are sent to the OA
            return [Reply(NOT_FOR_STUDENTS)]
        person = await session.get(Person, identity.person_id) if identity.person_id else None
        if person is not None and not person.active:
            person = None
        roles = (await role_set(session, person.id)
                 if person is not None and person.id is not None else frozenset())
        assert identity.id is not None
        state = await session.get(ConversationState, identity.id)
        if state is None:
            state = ConversationState(identity_id=identity.id, updated_at=now)
            session.add(state)
        ctx = Context(
            work=Work(session),
            clock=self.clock,
            settings=self.settings,
            identity=identity,
            person=person_view(person) if person is not None else None,
            roles=roles,
            state=state,
            inbound=inbound,
            flows=self.flows,
        )
        replies = await self.respond(ctx)
        session.add(identity)
        session.add(state)
        return replies

    async def respond(self, ctx: Context) -> list[Reply]:
        """The turn once identity, person, roles and state are in ``ctx``: route the message
        and update ``ctx.state`` (the caller writes identity and state)."""
        state, now = ctx.state, self.clock.now()
        if (resolved := choices.resolve_choice(ctx.inbound, state.choices)) is not ctx.inbound:
            ctx = replace(ctx, inbound=resolved)  # frozen: copied only when it changes
        if choices.is_stale(ctx.inbound, state):
            # A button from an earlier step (double tap, old message): applying its key to the
            # current question could answer the wrong one. Offer what is current instead.
            return [Reply(choices.STALE, choices.offered_again(state, ctx.bound))]
        aside, asking = choices.is_aside(ctx.inbound, state), (state.flow, state.step)
        replies = list(await self._route(ctx))
        if aside and (state.flow, state.step) == asking:
            return replies  # the same question waits: its buttons keep their turn
        if not choices.keeps_choices(ctx.inbound) or (replies and replies[-1].choices):
            state.choices = [[c.key, c.label] for c in (replies[-1].choices if replies else ())]
        state.version += 1
        state.updated_at = now
        return replies

    async def _route(self, ctx: Context) -> tuple[Reply, ...]:
        inbound = ctx.inbound
        if inbound.event is not None:
            return await self._event(ctx)
        if inbound.extra.get("unsupported"):
            return (Reply(choices.TEXT_ONLY, choices.offered_again(ctx.state, ctx.bound)),)
        first: tuple[Reply, ...] = ()
        for intercept in self.interceptors:
            taken = await intercept(ctx)
            if taken is None:
                continue
            if taken.enter is not None:  # a question of the interceptor's own comes next
                self._suspend(ctx)
                ctx.state.flow, ctx.state.step, ctx.state.data = taken.enter
                return (*first, *taken.replies)
            if not (ctx.state.flow and ctx.state.step):
                return taken.replies
            if taken.pause:
                return self._pause(ctx, (*first, *taken.replies))
            first += taken.replies
        if choices.edit_in_flow(inbound, ctx.state):  # heard (crisis words above), not an answer
            return (*first, Reply(choices.EDITED, choices.offered_again(ctx.state, ctx.bound)))
        if not first:
            return await self._dispatch(ctx)
        # The crisis reply keeps its own choices; the flow's question follows as plain text.
        rest = await self._dispatch(ctx)
        return (*first, *rest)

    async def _dispatch(self, ctx: Context) -> tuple[Reply, ...]:
        inbound, state = ctx.inbound, ctx.state
        word = inbound.text.strip().lower()
        choice = inbound.choice
        if choice == "menu" or (choice is None and word in MENU_WORDS):
            self._suspend(ctx)
            if not ctx.bound:
                return await self._start(ctx, self.flows.get("binding"), "")
            return (await self.menu.render(ctx),)
        if choice == "help" or (choice is None and word in HELP_WORDS):
            return (help_reply(ctx),)
        if choice is None and word in choices.CANCEL_WORDS:
            if state.flow:
                state.suspended.pop(state.flow, None)
                self._clear(ctx)
                return (Reply("好的，已退出。", self._menu_hint(ctx)),)
            return (await self.menu.render(ctx),)
        if choice is not None and choice.startswith("flow:"):
            self._suspend(ctx)
            return await self._start(ctx, self.flows.get(choice[5:]), "")
        flow = self.flows.get(state.flow)
        if state.flow and flow is None:  # a stored conversation in a flow that no longer exists
            self._clear(ctx)
        if flow is not None and state.step is not None:
            command = self._command(ctx)
            if command is not None:
                # 收到 7 typed at a list or a note prompt is a command, not an answer: staff
                # follow an alert's own instructions from wherever they are in the chat.
                self._suspend(ctx)
                return await self._start(ctx, *command)
            if self._idle(ctx, flow):
                self._suspend(ctx)
                return await self._start(ctx, flow, "")
            turn = await flow.step(ctx, state.step, dict(state.data))
            if turn.handoff:  # not for this flow: leave it and route the message afresh
                self._clear(ctx)
                return await self._dispatch(ctx)
            return self._apply(ctx, flow, turn)
        triggered = self.flows.by_trigger(inbound.text) if choice is None else None
        if triggered is not None:
            return await self._start(ctx, *triggered)
        listen = self.flows.get(LISTEN)
        if not ctx.bound:
            if listen is not None and choice is None and reflection_for(inbound.text):
                return await self._start(ctx, listen, inbound.text)  # heard before the login
            binding = self.flows.get("binding")
            return await self._start(ctx, binding, "") if binding else (help_reply(ctx),)
        menu = await self.menu.render(ctx)
        number = inbound.text.strip().translate(choices.FULLWIDTH_DIGITS)
        if choice is None and number.isdecimal():  # the main menu's numbers always work
            if 1 <= int(number) <= len(menu.choices):
                return await self._start(ctx, self.flows.get(menu.choices[int(number) - 1]
                                                             .key[5:]), "")
            return (Reply(f"没有第 {number} 项，可以从下面选一项：", menu.choices),)
        heard = choice is None and inbound.text.strip() and (
            Role.student in ctx.roles or not ctx.roles or reflection_for(inbound.text))
        if listen is not None and heard:
            # Words that are no command get a warm answer about what they say, never a shrug;
            # staff typing an unknown command get the menu below.
            return await self._start(ctx, listen, inbound.text)
        return (Reply("没太明白你的意思，可以从下面选一项：", menu.choices),)

    def _command(self, ctx: Context) -> tuple[Flow, str] | None:
        """A typed command for another flow (or this one afresh) that this person may use."""
        if ctx.inbound.choice is not None or ctx.person is None:
            return None
        found = self.flows.command(ctx.inbound.text)
        if found is None or not found[0].available_to(ctx.person, ctx.roles):
            return None
        if getattr(found[0], "reply_word", False):  # 不参加 inside a form answers the form
            return None
        return found

    async def _event(self, ctx: Context) -> tuple[Reply, ...]:
        event = ctx.inbound.event
        if event == "subscribe":
            if ctx.bound:
                return (await self.menu.render(ctx, greeting="欢迎回来！"),)
            binding = self.flows.get("binding")
            return await self._start(ctx, binding, "") if binding else ()
        if event == "unsubscribe":
            ctx.identity.reachable = False
        return ()

    async def _start(self, ctx: Context, flow: Flow | None, argument: str) -> tuple[Reply, ...]:
        if flow is None:
            return (Reply("这个功能暂时不可用。", self._menu_hint(ctx)),)
        if not flow.available_to(ctx.person, ctx.roles):
            await ctx.run(refuse_flow, now=self.clock.now(), flow=flow.id,
                          actor_person_id=ctx.person.id if ctx.person else None,
                          identity_id=ctx.identity.id, asked=argument)
            if not ctx.bound:
                return (Reply("请先绑定身份，再使用这个功能。回复“绑定”开始。"),)
            return (Reply("这个功能不在你的权限范围内。", self._menu_hint(ctx)),)
        ctx.state.flow = flow.id
        ctx.state.step = None
        ctx.state.data = {}
        turn = await flow.start(ctx, argument)
        if turn.handoff:  # a trigger word that only began a sentence: hear the sentence
            self._clear(ctx)
            listen = self.flows.get(LISTEN)
            if listen is not None and flow.id != LISTEN:
                return await self._start(ctx, listen, ctx.inbound.text)
            return (Reply("没太明白你的意思，可以从下面选一项：",
                          (await self.menu.render(ctx)).choices),)
        return self._apply(ctx, flow, turn)

    def _apply(self, ctx: Context, flow: Flow, turn: Turn) -> tuple[Reply, ...]:
        state = ctx.state
        if turn.next_step is None:
            if state.flow == flow.id:
                self._clear(ctx)
        else:
            state.flow, state.step, state.data = flow.id, turn.next_step, dict(turn.data)
        return turn.replies

    def _pause(self, ctx: Context, replies: tuple[Reply, ...]) -> tuple[Reply, ...]:
        """Leave the flow after a crisis reply, and say where its progress is kept, if it is."""
        flow = self.flows.get(ctx.state.flow)
        self._suspend(ctx)
        if not replies or flow is None or flow.id not in ctx.state.suspended or not flow.triggers:
            return replies
        last = replies[-1]
        note = (f"刚才填写的《{flow.title}》已经帮你保存好了，不用着急。"
                f"之后想接着填，回复“{flow.triggers[0]}”就可以。")
        return (*replies[:-1], replace(last, text=f"{last.text}\n\n{note}"))

    def _suspend(self, ctx: Context) -> None:
        """Leave the current flow; a resumable one keeps its progress for later."""
        leave_flow(ctx.state, self.flows.get(ctx.state.flow))

    @staticmethod
    def _clear(ctx: Context) -> None:
        ctx.state.flow = None
        ctx.state.step = None
        ctx.state.data = {}

    def _idle(self, ctx: Context, flow: Flow) -> bool:
        asking = not (ctx.state.step or "").startswith("__")  # not an engine's own question
        return bool(getattr(flow, "resumable", False)) and asking and self.idle(ctx.state)

    def idle(self, state: Conversation) -> bool:
        """Whether the question the conversation waits on is older than a form waits."""
        limit = timedelta(minutes=self.settings.form_idle_minutes)
        return self.clock.now() - utc(state.updated_at) > limit

    @staticmethod
    def _menu_hint(ctx: Context) -> tuple[Choice, ...]:
        return (Choice("menu", "主菜单"),) if ctx.bound else ()
