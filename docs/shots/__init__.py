"""Pictures of the bot for the README: the real bot's payloads, drawn as Discord draws them.

``python -m docs.shots`` starts the loopback Discord and Apple servers (``loopback/``) and the real
:class:`~bot.app.RatingsBot` in this process, drives the main moments as a member would (``/link`` and the linking
page, ``/rating like``, ``/rating show``, ``/rating tracks``, ``/share``, a button press, an error, the
unlinked-reaction DM, the message menu, ``/about``), records the messages the bot sent, and renders them with the
npm package ``@skyra/discord-components-core`` in headless Chromium. The PNGs go to ``docs/``.

* :mod:`docs.shots.drive` — the bot, the servers and the moments; returns :class:`~playground.model.Scene` objects.
* :mod:`docs.shots.render` — the npm install (pinned, into ``docs/.npm``), the HTML of a scene and the screenshots.
* :mod:`playground.markdown` — Discord's markdown (the subset the bot uses) as the renderer's elements.
"""
