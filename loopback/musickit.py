"""A stand-in for Apple's MusicKit JS (``js-cdn.music.apple.com`` is unreachable here): an aiohttp server on
127.0.0.1 serving ``/musickit.js``.

The script defines ``window.MusicKit`` with ``configure(options)`` (the options are recorded on
``window.__musickit.configured``) and ``getInstance().authorize()``, which resolves to ``window.__stubToken`` (set
it with ``page.evaluate``), else to :attr:`MusicKitStub.token`, else rejects (a cancelled sign-in); then it fires
``musickitloaded`` like the real script. Point the bot at it with ``MUSICKIT_JS_URL=stub.url``. The tests' fixture
(``tests/fixtures/musickit.py``) and the playground both use it.
"""

from __future__ import annotations

import json

from aiohttp import web

_SCRIPT = """
(function () {
  "use strict";
  var DEFAULT_TOKEN = __TOKEN__;
  var record = { configured: null, authorizeCalls: 0 };
  window.__musickit = record;
  var instance = {
    authorize: function () {
      record.authorizeCalls += 1;
      var token = window.__stubToken || DEFAULT_TOKEN;
      return token ? Promise.resolve(token) : Promise.reject(new Error("AUTHORIZATION_ERROR"));
    }
  };
  window.MusicKit = {
    configure: function (options) {
      record.configured = JSON.parse(JSON.stringify(options));
      return Promise.resolve(instance);
    },
    getInstance: function () { return instance; }
  };
  document.dispatchEvent(new Event("musickitloaded"));
})();
"""


class MusicKitStub:
    def __init__(self) -> None:
        #: what ``authorize()`` resolves to when the page did not set ``window.__stubToken``
        self.token: str | None = None
        self.hits = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _script(self, request: web.Request) -> web.Response:
        self.hits += 1
        body = _SCRIPT.replace("__TOKEN__", json.dumps(self.token))
        return web.Response(text=body, content_type="text/javascript", headers={"Cache-Control": "no-store"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/musickit.js", self._script)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/musickit.js"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
