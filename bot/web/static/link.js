// The linking page: it names the bot and the Discord account the link is for, asks "this is me" when the server
// could not check it with Discord, then MusicKit JS sign-in; Apple's answer goes to our server with the one-time
// state. Every end is a panel that says what happened and what to do; a link that cannot be used shows no button.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("link-config").textContent);
  var button = document.getElementById("connect");
  var outcome = document.getElementById("outcome");
  var outcomeTitle = document.getElementById("outcome-title");
  var statusLine = document.getElementById("status");
  var confirmBox = document.getElementById("confirm");
  // the page's words in the visitor's language, translated by the server (bot/web/texts.py)
  var text = config.text;
  var ready = false;
  // failures after which the same link can be tried again from this page
  var RETRY = ["apple_refused", "no_subscription", "apple_unavailable", "rate_limited", "database_unavailable",
    "not_confirmed"];

  function byId(id) { return document.getElementById(id); }

  function showMember(member) {
    if (!member || !member.name) { return; }
    byId("member-name").textContent = member.name;
    byId("member").hidden = false;
    if (member.avatar) {
      var avatar = byId("avatar");
      // (an avatar that does not load is left out rather than shown broken)
      avatar.addEventListener("error", function () { avatar.hidden = true; }, { once: true });
      avatar.src = member.avatar;
      avatar.hidden = false;
    }
    if (config.confirm) {
      byId("confirm-label").textContent = text.confirm.split("{name}").join(member.name);
      byId("confirm-row").hidden = false;
      byId("confirm-note").hidden = false;
    }
  }

  // Apple's sign-in starts only once MusicKit is ready and, without a Discord check, the visitor confirmed
  function updateButton() {
    button.disabled = !ready || (config.confirm && !confirmBox.checked);
  }

  // progress (plain text), or an end: a panel ("ok" or "error") with an optional headline over the message
  function show(text, kind, title) {
    statusLine.textContent = text;
    outcomeTitle.textContent = title || "";
    outcomeTitle.hidden = !title;
    outcome.className = kind ? "panel " + kind : "";
  }

  // the link is done with (linked, or it cannot be used): the headline says so and no control is left
  function finish(title) {
    byId("title").textContent = title;
    document.title = title + " · " + config.bot;
    byId("intro").hidden = true;
    byId("confirm-row").hidden = true;
    byId("confirm-note").hidden = true;
    button.hidden = true;
    button.disabled = true;
  }

  if (!config.state) {
    finish(document.getElementById("title").textContent);
    show(config.error || text.invalid, "error");
    document.body.dataset.error = config.code || "invalid";
    return;
  }

  async function send(musicUserToken) {
    var response = await fetch("/link/complete", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ state: config.state, token: musicUserToken, confirmed: !config.confirm || confirmBox.checked })
    });
    var body = {};
    try { body = await response.json(); } catch (e) { body = {}; }
    return { ok: response.ok, body: body };
  }

  async function connect() {
    if (config.confirm && !confirmBox.checked) { updateButton(); return; }
    button.disabled = true;
    show(text.waiting);
    var signedIn;
    try {
      signedIn = await MusicKit.getInstance().authorize();
      if (!signedIn) { throw new Error("no sign-in"); }
    } catch (e) {
      show(text.cancelled, "error", text.notLinkedYet);
      button.disabled = false;
      document.body.dataset.error = "apple_cancelled";
      return;
    }
    show(text.checking);
    var result;
    try {
      result = await send(signedIn);
    } catch (e) {
      result = { ok: false, body: { code: "apple_unavailable" } };
    }
    var body = result.body;
    if (result.ok) {
      finish(body.title || text.linkedTitle);
      show(body.message || text.linked, "ok");
      document.body.dataset.linked = "true";
    } else if (RETRY.indexOf(body.code) >= 0) {
      show(body.message || text.retry, "error", body.title || text.notLinkedYet);
      updateButton();
      document.body.dataset.error = body.code;
    } else {
      finish(body.title || text.failedTitle);
      show(body.message || text.failed, "error");
      document.body.dataset.error = body.code || "failed";
    }
  }

  async function setup() {
    try {
      await MusicKit.configure({
        developerToken: config.developerToken,
        app: { name: config.appName, build: config.appBuild }
      });
      button.textContent = text.signIn;
      ready = true;
      updateButton();
      button.addEventListener("click", connect);
      document.body.dataset.ready = "true";
    } catch (e) {
      show(text.noMusicKit, "error", text.noMusicKitTitle);
    }
  }

  showMember(config.member);
  confirmBox.addEventListener("change", updateButton);
  if (window.MusicKit) { setup(); } else { document.addEventListener("musickitloaded", setup, { once: true }); }
})();
