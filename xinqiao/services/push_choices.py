"""A push's choices answer by number or tap, as a reply's do.

WeChat shows a pushed message's choices as numbered lines (or menu links whose tap sends the
label and a digest of the key); the engine resolves a number, a label or a digest against the
choices offered last. So a push with choices becomes the last offer of the account it went to —
unless that account is in the middle of something (a form's own numbers must keep meaning its
options), in which case its words (同意结案 G3, 收到 D7) still work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.pushed import Offered
from xinqiao.storage.models import ConversationState


async def offer_choices(s: AsyncSession, identity_ids: Iterable[int],
                        choices: Sequence[Offered], now: datetime) -> None:
    """Make ``choices`` the last offer of these chat accounts where no flow is waiting."""
    ids = sorted(set(identity_ids))
    if not choices or not ids:
        return
    offered = [[c.key, c.label] for c in choices]
    states = {st.identity_id: st for st in (await s.exec(select(ConversationState).where(
        col(ConversationState.identity_id).in_(ids)))).all()}
    for identity_id in ids:
        state = states.get(identity_id)
        if state is None:
            state = ConversationState(identity_id=identity_id, updated_at=now)
        if state.flow is None:
            state.choices = offered
            s.add(state)
