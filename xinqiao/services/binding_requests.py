"""Second channels: a spent code asks the person's bound accounts, and every binding is told.

A code binds once. Someone who holds it later (a screenshot, a neighbour's sheet) must not be
able to add their own Telegram to a student bound on WeChat and take over the alerts, so a
second account joins only with a yes tapped on an account already bound (or with a fresh
code staff issue), and each new binding is announced on the person's other accounts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.code_hash import spend
from xinqiao.services.directory import row_of
from xinqiao.services.outbox import Priority, enqueue_replies
from xinqiao.services.push_choices import offer_choices
from xinqiao.services.pushed import Pushed
from xinqiao.services.wecom_people import prefer
from xinqiao.services.wording_port import WordingPort
from xinqiao.storage.binding import BindingRequest, RequestStatus
from xinqiao.storage.models import ChannelIdentity, Person
from xinqiao.vocabulary import Account, Rostered


class BindingWording(Protocol):
    """What a binding tells the person's accounts; ``handlers/binding_texts`` is one."""

    def bound_elsewhere(self, channel: str) -> Pushed:
        """To the other accounts: a new account of ``channel`` joined (not you? say so)."""
        ...

    def confirm_question(self, channel: str, minutes: int) -> Pushed:
        """To the bound accounts: is this you? (its choices answer yes or no)."""
        ...

    def declined(self) -> Pushed:
        """To the asking account: the person said no."""
        ...

    def welcome(self, name: str) -> Pushed:
        """To the asking account: the person said yes."""
        ...


words: WordingPort[BindingWording] = WordingPort("binding", "xinqiao.handlers.binding_texts")


async def bound_accounts(s: AsyncSession, person_id: int) -> list[ChannelIdentity]:
    """The person's bound chat accounts, oldest first."""
    return list(await s.exec(select(ChannelIdentity).where(
        ChannelIdentity.person_id == person_id).order_by(col(ChannelIdentity.id))))


async def attach(s: AsyncSession, identity: ChannelIdentity, person: Person,
                 now: datetime) -> None:
    """Bind the account, spend the code, and tell the person's other accounts."""
    assert person.id is not None
    others = await bound_accounts(s, person.id)
    identity.person_id, identity.bound_at = person.id, now
    identity.bind_failures, identity.bind_locked_until = 0, None
    if identity.channel != "console":  # alerts go to a preferred channel; keep theirs if set
        identity.preferred = not any(o.preferred for o in others if o.id != identity.id)
    s.add(identity)
    if identity.channel == "wecom":  # the staff channel: staff alerts prefer it once bound
        await s.flush()
        await prefer(s, identity)
    person.activation_code = spend(person.activation_code)
    s.add(person)
    await audit.record(s, at=now, action="bind", actor_person_id=person.id,
                       subject_person_id=person.id, channel=identity.channel)
    notice = words().bound_elsewhere(identity.channel)
    for other in others:
        if other.id != identity.id:
            await enqueue_replies(
                s, key_prefix=f"bind:told:{identity.id}:{other.id}:{now.timestamp():.0f}",
                channel=other.channel, address=other.address, replies=[notice], now=now,
                person_id=person.id, priority=Priority.alert)


async def attach_account(s: AsyncSession, account: Account, person: Person,
                         now: datetime) -> None:
    """``attach`` for the account a flow holds (its stored row is changed)."""
    row = await s.get(ChannelIdentity, account.id)
    assert row is not None
    await attach(s, row, person, now)


async def pending(s: AsyncSession, person_id: int, now: datetime) -> BindingRequest | None:
    """The person's newest request still waiting for an answer."""
    return (await s.exec(select(BindingRequest).where(
        BindingRequest.person_id == person_id, BindingRequest.status == RequestStatus.pending,
        col(BindingRequest.expires_at) > now).order_by(col(BindingRequest.id).desc()))).first()


async def ask(s: AsyncSession, person: Rostered, identity: Account, *, now: datetime,
              minutes: int) -> bool:
    """Ask the person's bound accounts to confirm ``identity``; False if already asked."""
    assert person.id is not None and identity.id is not None
    waiting = await pending(s, person.id, now)
    if waiting is not None and waiting.identity_id == identity.id:
        return False
    if waiting is not None:  # one question at a time: the newer asker replaces it
        waiting.status, waiting.decided_at = RequestStatus.expired, now
        s.add(waiting)
    request = BindingRequest(person_id=person.id, identity_id=identity.id, created_at=now,
                             expires_at=now + timedelta(minutes=minutes))
    s.add(request)
    await s.flush()
    await audit.record(s, at=now, action="bind.requested", actor_person_id=None,
                       subject_person_id=person.id, allowed=False, channel=identity.channel)
    question = words().confirm_question(identity.channel, minutes)
    accounts = await bound_accounts(s, person.id)
    for account in accounts:
        await enqueue_replies(
            s, key_prefix=f"bind:ask:{request.id}:{account.id}", channel=account.channel,
            address=account.address, replies=[question], now=now, person_id=person.id,
            priority=Priority.alert)
    # On WeChat the push's choices are numbered lines; make "1"/"是" mean them, unless an
    # account is in the middle of a form (its own choices must keep their numbers).
    await offer_choices(s, [a.id for a in accounts if a.id is not None], question.choices, now)
    return True


async def decide(s: AsyncSession, request: BindingRequest, *, yes: bool, person: Rostered,
                 now: datetime) -> ChannelIdentity | None:
    """Record the answer; on a yes bind the asking account and return it (None if it cannot)."""
    request.decided_at = now
    asker = await s.get(ChannelIdentity, request.identity_id)
    clash = asker is not None and (await s.exec(select(ChannelIdentity.id).where(
        ChannelIdentity.person_id == person.id, ChannelIdentity.channel == asker.channel,
        ChannelIdentity.id != asker.id))).first() is not None
    if not yes or asker is None or asker.person_id is not None or clash:
        request.status = RequestStatus.denied if not yes else RequestStatus.expired
        s.add(request)
        await audit.record(s, at=now, action="bind.denied" if not yes else "bind.refused",
                           actor_person_id=person.id, subject_person_id=person.id,
                           allowed=False, reason="denied by the person" if not yes else "stale")
        if asker is not None and not yes:
            await enqueue_replies(
                s, key_prefix=f"bind:no:{request.id}", channel=asker.channel,
                address=asker.address, now=now, priority=Priority.reply,
                replies=[words().declined()])
        return None
    request.status = RequestStatus.confirmed
    s.add(request)
    await attach(s, asker, await row_of(s, person), now)
    await enqueue_replies(
        s, key_prefix=f"bind:yes:{request.id}", channel=asker.channel, address=asker.address,
        now=now, person_id=person.id, priority=Priority.reply,
        replies=[words().welcome(person.name)])
    return asker
