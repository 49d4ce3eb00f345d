// The linking page: it shows whose Discord account the link is for, asks "this is me" when the server could
// not check it with Discord, then MusicKit JS sign-in; the token goes to our server with the one-time state.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("link-config").textContent);
  var button = document.getElementById("connect");
  var statusLine = document.getElementById("status");
  var confirmBox = document.getElementById("confirm");
  var ready = false;

  function showMember(member) {
    if (!member || !member.name) { return; }
    document.getElementById("member-name").textContent = member.name;
    document.getElementById("member").hidden = false;
    if (member.avatar) {
      var avatar = document.getElementById("avatar");
      avatar.src = member.avatar;
      avatar.hidden = false;
    }
    if (config.confirm) {
      document.getElementById("confirm-label").textContent = "This is me, " + member.name;
      document.getElementById("confirm-row").hidden = false;
      document.getElementById("confirm-note").hidden = false;
    }
  }

  // Apple's sign-in starts only once MusicKit is ready and, without a Discord check, the visitor confirmed
  function updateButton() {
    button.disabled = !ready || (config.confirm && !confirmBox.checked);
  }

  function show(text, kind) {
    statusLine.textContent = text;
    statusLine.className = kind || "";
  }

  if (!config.state) {
    show(config.error || "This link is not valid. Run /link in Discord to get a new one.", "error");
    button.textContent = "Link unavailable";
    document.body.dataset.error = config.code || "invalid";
    return;
  }

  async function sendToken(token) {
    var response = await fetch("/link/complete", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ state: config.state, token: token, confirmed: !config.confirm || confirmBox.checked })
    });
    var body = {};
    try { body = await response.json(); } catch (e) { body = {}; }
    return { ok: response.ok, body: body };
  }

  async function connect() {
    if (config.confirm && !confirmBox.checked) { updateButton(); return; }
    button.disabled = true;
    show("Waiting for Apple…");
    try {
      var music = MusicKit.getInstance();
      var token = await music.authorize();
      if (!token) { throw new Error("no token"); }
      show("Checking with Apple Music…");
      var result = await sendToken(token);
      if (result.ok) {
        show(result.body.message || "Linked! You can close this page and go back to Discord.", "ok");
        button.textContent = "Linked";
        document.body.dataset.linked = "true";
      } else {
        show(result.body.message || "Linking failed. Run /link in Discord to try again.", "error");
        button.disabled = result.body.code === "apple_refused" ? false : true;
        if (result.body.code !== "apple_refused") { confirmBox.disabled = true; }
        document.body.dataset.error = result.body.code || "failed";
      }
    } catch (e) {
      show("Apple sign-in was cancelled or failed. Press the button to try again.", "error");
      button.disabled = false;
    }
  }

  async function setup() {
    try {
      await MusicKit.configure({
        developerToken: config.developerToken,
        app: { name: config.appName, build: config.appBuild }
      });
      button.textContent = "Sign in with Apple Music";
      ready = true;
      updateButton();
      button.addEventListener("click", connect);
      document.body.dataset.ready = "true";
    } catch (e) {
      show("Apple Music could not start on this page. Try again later.", "error");
    }
  }

  showMember(config.member);
  confirmBox.addEventListener("change", updateButton);
  if (window.MusicKit) { setup(); } else { document.addEventListener("musickitloaded", setup, { once: true }); }
})();
