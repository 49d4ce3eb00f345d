"""``python -m bot playground``: the real bot against the loopback Discord and Apple, in a browser (issue 21).

* :mod:`playground.cli` — the command: starts everything, seeds the world, prints the page's address.
* :mod:`playground.app` — the page's aiohttp app and API (acting as a member through the loopback Discord).
* :mod:`playground.world` — the loopback servers and the real bot started in this process (shared with
  ``docs/shots``, the README's pictures).
* :mod:`playground.render`, :mod:`playground.markdown`, :mod:`playground.model` — Discord messages drawn with
  ``@skyra/discord-components-core`` (shared with ``docs/shots``).
* :mod:`playground.servers` — the one import of the loopback servers (the ``loopback`` package).
"""
