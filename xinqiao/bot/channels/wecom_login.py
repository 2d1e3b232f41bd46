"""Console sign-in with WeCom: OAuth inside the WeCom client, the scan login on a desktop.

``GET /wecom/login`` sends the browser to WeCom (snsapi_base inside WeCom, where the member is
known without a prompt; ``login.work.weixin.qq.com``'s scan page elsewhere) with a random
``state`` also kept in a short-lived cookie. WeCom sends it back to ``/wecom/login/done`` with a
code; the code gives the member's userid, the userid a person, and a staff member gets the
console's own one-time link (whose page starts the session with a same-site POST, so the
SameSite=Strict session cookie is not set by a cross-site redirect). Students and unknown
members get no link.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlencode

from aiohttp import web

from xinqiao.bot.channels.wechat_http import WeChatAPIError
from xinqiao.bot.channels.wecom_api import WeComAPI
from xinqiao.clock import Clock
from xinqiao.services import console_auth
from xinqiao.services.wecom_people import WECOM, staff_by_userid
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

log = logging.getLogger(__name__)
OAUTH = "https://open.weixin.qq.com/connect/oauth2/authorize"
SCAN = "https://login.work.weixin.qq.com/wwlogin/sso/login"
STATE_COOKIE = "xq_wecom_state"
DONE_PATH = "/wecom/login/done"
REFUSED = ("<!doctype html><meta charset=utf-8><title>心桥</title><p>无法用企业微信登录控制台："
           "只有名单上的老师和工作人员可以使用。请联系心理中心。</p>")


class WeComLogin:
    """aiohttp handlers for ``/wecom/login`` and ``/wecom/login/done``."""

    def __init__(self, settings: Settings, db: Database, clock: Clock, api: WeComAPI) -> None:
        self.settings, self.db, self.clock, self.api = settings, db, clock, api

    def _back(self) -> str:
        return self.settings.public_base_url.rstrip("/") + DONE_PATH

    async def start(self, request: web.Request) -> web.StreamResponse:
        """Off to WeCom: its OAuth inside the WeCom client, its scan login elsewhere."""
        state = secrets.token_urlsafe(16)
        corp, agent = self.settings.wecom_corp_id, self.settings.wecom_agent_id
        if "wxwork" in request.headers.get("User-Agent", "").lower():
            query = urlencode({"appid": corp, "redirect_uri": self._back(),
                               "response_type": "code", "scope": "snsapi_base",
                               "state": state, "agentid": agent})
            target = f"{OAUTH}?{query}#wechat_redirect"
        else:
            query = urlencode({"login_type": "CorpApp", "appid": corp, "agentid": agent,
                               "redirect_uri": self._back(), "state": state})
            target = f"{SCAN}?{query}"
        response = web.Response(status=302, headers={"Location": target})
        # Lax: the cookie must come back on WeCom's top-level redirect to us.
        response.set_cookie(STATE_COOKIE, state, path=DONE_PATH, httponly=True, samesite="Lax",
                            secure=request.secure, max_age=600)
        return response

    async def done(self, request: web.Request) -> web.StreamResponse:
        """Back from WeCom: code → userid → staff member → the console's one-time link."""
        state, code = request.query.get("state", ""), request.query.get("code", "")
        kept = request.cookies.get(STATE_COOKIE, "")
        if not code or not kept or not hmac.compare_digest(state.encode(), kept.encode()):
            return self._refused(400)
        try:
            userid = await self.api.user_of_code(code[:512])
        except WeChatAPIError as exc:
            log.warning("wecom login: could not ask WeCom (%s)", exc.code)
            return web.Response(status=503, text="企业微信暂时无法连接，请稍后再试。")
        async with self.db.session() as s:
            person = await staff_by_userid(s, userid) if userid else None
            if person is None:
                return self._refused(403)
            link = await console_auth.issue_link(s, person, WECOM, self.settings.public_base_url,
                                                 self.clock.now())
        response = web.Response(status=302, headers={"Location": link})
        response.del_cookie(STATE_COOKIE, path=DONE_PATH)
        return response

    @staticmethod
    def _refused(status: int) -> web.Response:
        response = web.Response(status=status, text=REFUSED, content_type="text/html")
        response.del_cookie(STATE_COOKIE, path=DONE_PATH)
        return response
