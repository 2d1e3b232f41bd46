"""Binding a chat account to a roster person with an activation code, with lockout."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from xinqiao.clock import local, utc
from xinqiao.handlers.binding_texts import channel_name
from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.menu import Menu
from xinqiao.handlers.wecom_texts import NOT_FOR_STUDENTS
from xinqiao.messages import Choice, Reply
from xinqiao.services import audit, bind_guard, code_hash
from xinqiao.services import binding_requests as requests
from xinqiao.services.code_hash import CodeState
from xinqiao.services.directory import person_view, role_set
from xinqiao.services.person_info import active_by_number
from xinqiao.services.wecom_people import WECOM, is_staff
from xinqiao.vocabulary import Member, Role

ASK_ID = "ask_id"
ASK_CODE = "ask_code"


class BindingFlow:
    """绑定: ``绑定 <学号工号> <激活码>`` in one message, or a guided two-step flow."""

    id = "binding"
    title = "绑定身份"
    triggers: tuple[str, ...] = ("绑定", "bind", "/bind")

    def __init__(self, menu: Menu) -> None:
        self.menu = menu

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Anyone may try to bind."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Bind at once from the arguments, or ask for the id first."""
        if ctx.person is not None:
            return Turn.end(
                Reply(
                    f"你已绑定为 {ctx.person.name}（{ctx.person.external_id}）。"
                    "如需更换绑定，请联系你的辅导员或心理中心。",
                    (Choice("menu", "主菜单"),),
                )
            )
        if locked := self._locked_reply(ctx):
            return Turn.end(locked)
        parts = argument.split()
        if len(parts) >= 2:
            return await self._attempt(ctx, parts[0], parts[1])
        if len(parts) == 1:
            return Turn.ask(ASK_CODE, {"id": parts[0]}, Reply("请发送你的激活码："))
        return Turn.ask(
            ASK_ID,
            {},
            Reply(
                "欢迎来到心桥！这里是学校心理健康中心的服务号。\n"
                "使用前需要先绑定身份，请发送你的学号或工号（激活码可向辅导员领取）。\n"
                "如果你现在很难受，可以先点“紧急求助热线”。",
                (Choice("flow:crisis_help", "紧急求助热线"),),
            ),
        )

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """Collect the id, then the code."""
        text = ctx.inbound.text.strip()
        for trigger in self.triggers:  # the whole command typed again: start over with it
            if text.lower() == trigger or text.lower().startswith(trigger + " "):
                return await self.start(ctx, text[len(trigger):].strip())
        if step == ASK_ID:
            parts = text.split()
            if len(parts) >= 2:
                return await self._attempt(ctx, parts[0], parts[1])
            if not text or len(text) > 64:
                return Turn.ask(ASK_ID, {}, Reply("请发送你的学号或工号："))
            return Turn.ask(ASK_CODE, {"id": text}, Reply("请发送你的激活码："))
        if not text:
            return Turn.ask(ASK_CODE, data, Reply("请发送你的激活码："))
        return await self._attempt(ctx, str(data.get("id", "")), text)

    def _locked_reply(self, ctx: Context, until: datetime | None = None) -> Reply | None:
        own = ctx.identity.bind_locked_until
        if own is not None and utc(own) > ctx.clock.now():
            until = max(until, own) if until is not None else own
        if until is not None and utc(until) > ctx.clock.now():
            return Reply(
                f"尝试次数过多，为保护账号安全，请在 {local(until):%H:%M} 之后再试。"
                "如果忘记激活码，请联系辅导员。"
            )
        return None

    async def _attempt(self, ctx: Context, external_id: str, code: str) -> Turn:
        now, external_id = ctx.clock.now(), external_id.strip()
        if locked := self._locked_reply(ctx, await ctx.run(bind_guard.locked_until, external_id,
                                                           now)):
            return Turn.end(locked)
        if await ctx.run(bind_guard.over_ceiling, ctx.settings, now):
            return Turn.end(Reply("现在绑定的人比较多，请一分钟后再试。"))
        person = await ctx.run(active_by_number, external_id)
        # check() runs one keyed hash whether or not the id exists, so that neither the
        # answer nor its timing tells whether an id is on the roster.
        state = await ctx.run(code_hash.check_in, person.activation_code if person else None,
                              code)
        if person is None or state is None:
            return await self._fail(ctx, external_id, person)
        assert person.id is not None
        await ctx.run(bind_guard.clear, external_id)
        if ctx.identity.channel == WECOM and not await ctx.run(is_staff, person.id):
            await ctx.run(audit.record, at=now, action="bind.refused", actor_person_id=None,
                          subject_person_id=person.id, allowed=False,
                          reason="student on wecom", channel=WECOM)
            return Turn.end(Reply(NOT_FOR_STUDENTS))
        accounts = await ctx.run(requests.bound_accounts, person.id)
        if any(a.channel == ctx.identity.channel for a in accounts):
            await ctx.run(audit.record, at=now, action="bind.refused", actor_person_id=None,
                          subject_person_id=person.id, allowed=False, reason="bound elsewhere",
                          channel=ctx.identity.channel,
                      )
            return Turn.end(
                Reply(
                    "这个身份已经绑定在另一个账号上了。如果那不是你本人操作，"
                    "或你换了新账号，请联系辅导员或心理中心解除原绑定。"
                )
            )
        if state is CodeState.spent and accounts:  # a second channel: ask the bound accounts
            names = "、".join(dict.fromkeys(channel_name(a.channel) for a in accounts))
            asked = await ctx.run(requests.ask, person, ctx.identity, now=now,
                                  minutes=ctx.settings.bind_confirm_minutes)
            lead = "已经" if not asked else ""
            return Turn.end(Reply(
                f"这个身份已绑定在{names}上。我们{lead}向那边发送了确认消息，"
                "请在已绑定的账号上点“是”，确认后这里就能使用了。"))
        if state is CodeState.spent:
            await ctx.run(audit.record, at=now, action="bind.refused", actor_person_id=None,
                          subject_person_id=person.id, allowed=False, reason="code spent",
                          channel=ctx.identity.channel)
            return Turn.end(Reply(
                "这个激活码已经使用过了。请联系辅导员或心理中心获取新的激活码。"))
        await ctx.run(requests.attach_account, ctx.identity, person, now)
        roles = await ctx.run(role_set, person.id)
        menu = await self.menu.render(
            replace(ctx, person=person_view(person), roles=roles),
            greeting=f"绑定成功！{person.name}，欢迎使用心桥。",
        )
        return Turn.end(menu)

    async def _fail(self, ctx: Context, external_id: str, person: Member | None) -> Turn:
        settings, now = ctx.settings, ctx.clock.now()
        failures = await ctx.run(bind_guard.fail_on_account, settings, ctx.identity, now)
        await ctx.run(audit.record, at=now, action=bind_guard.FAILED, actor_person_id=None,
                      allowed=False, channel=ctx.identity.channel,
                      attempted_id=external_id[:64], failures=failures)
        id_locked = await ctx.run(bind_guard.count_failure, settings, external_id, now=now,
                                  subject_person_id=person.id if person else None)
        locked = self._locked_reply(ctx, id_locked)
        if locked is not None:
            return Turn.end(locked)
        left = settings.bind_max_failures - failures
        return Turn.ask(
            ASK_ID,
            {},
            Reply(f"学号/工号或激活码不正确，还可以再试 {left} 次。\n请重新发送你的学号或工号："),
        )
