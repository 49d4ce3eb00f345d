// The playground's page: a Discord channel drawn from the loopback Discord, acted in as one member.
// Every action is an API call; the server turns it into what Discord would send the bot.

const $ = (sel, root = document) => root.querySelector(sel);
//: the reactions a member can add from the page (Twemoji file names, as the renderer draws them)
const REACTIONS = [["👍", "1f44d"], ["👎", "1f44e"], ["❤️", "2764"], ["🔥", "1f525"]];
const state = { world: null, acting: null, channel: null, command: null, messages: [], generation: 0 };

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function showError(text) { $("#composer-error").textContent = text || ""; }

function memberName(id) {
  const m = state.world.members.find((x) => x.id === id);
  return m ? m.name : "?";
}

// ------------------------------------------------------------------------------------------ sidebar and side
function renderSidebar() {
  const w = state.world;
  $("#guild-name").textContent = w.guild.name;
  const channelButton = (id, label, name) =>
    `<li><button type="button" data-channel="${id}" data-channel-name="${escapeHtml(name)}"` +
    ` aria-current="${id === state.channel}">${escapeHtml(label)}</button></li>`;
  $("#channels").innerHTML = w.channels.map((c) => channelButton(c.id, `# ${c.name}`, c.name)).join("");
  const dm = w.dm_channels[state.acting];
  $("#dms").innerHTML = channelButton(dm, `${w.bot.name} (bot)`, "dm");
  $("#members").innerHTML = w.members.map((m) =>
    `<button type="button" role="radio" data-member="${m.id}" data-member-name="${escapeHtml(m.name)}"` +
    ` aria-checked="${m.id === state.acting}">${escapeHtml(m.name)}</button>`).join("");
  $("#apple-modes").innerHTML = Object.keys(w.apple_modes).map((mode) =>
    `<button type="button" role="radio" data-mode="${mode}" aria-checked="${mode === w.apple_mode}">${mode}</button>`).join("");
  $("#apple-mode-what").textContent = w.apple_modes[w.apple_mode];
  const current = [...w.channels, { id: dm, name: null }].find((c) => c.id === state.channel);
  $("#channel-title").textContent = current && current.name ? `# ${current.name}` : `${w.bot.name} — direct messages`;
}

async function renderAccounts() {
  const data = await api("/api/apple");
  const refused = $("#apple-refused");
  refused.dataset.count = String(data.refused);
  refused.textContent = data.refused ? `Apple turned away ${data.refused} requests so far (the bot retries later).` : "";
  $("#accounts").innerHTML = data.accounts.map((a) => {
    const items = a.ratings.map((r) =>
      `<li data-rating="${r.type}:${r.id}" data-value="${r.value}">${r.value > 0 ? "👍" : "👎"} ` +
      `${escapeHtml(r.name)}${r.artist ? " — " + escapeHtml(r.artist) : ""} <small>(${r.type})</small></li>`).join("");
    return `<div class="account" data-member="${a.member}" data-member-name="${escapeHtml(a.name)}">` +
      `<h3>${escapeHtml(a.name)}'s account</h3>` +
      `<div class="linked" data-linked="${a.linked}">${a.linked ? "Linked to the bot" : "Not linked to the bot"}</div>` +
      `<ul>${items || "<li class='none'>No ratings yet</li>"}</ul>` +
      (a.playlists.length ? `<h4>Library playlists</h4><ul>` + a.playlists.map((p) =>
        `<li data-playlist="${escapeHtml(p.name)}">🎵 ${escapeHtml(p.name)} <small>(${p.tracks.length} songs: ` +
        `${p.tracks.map(escapeHtml).join(", ")})</small></li>`).join("") + `</ul>` : "") + `</div>`;
  }).join("");
}

// ---------------------------------------------------------------------------------------------- messages
function decorate(m) {
  const actions = `<div class="pg-actions" data-for="${m.id}">` +
        REACTIONS.map(([e, file]) => `<button type="button" data-react="${e}" title="React ${e}" aria-label="React ${e}">` +
      `<img class="emoji" src="/twemoji/${file}.svg" alt="${e}"></button>`).join("") +
    "</div>";
  const open = m.html.replace(/^<discord-message/,
    `<discord-message data-message-id="${m.id}" data-author="${escapeHtml(m.author)}"` +
    `${m.ephemeral ? " data-ephemeral" : ""}${m.loading ? " data-loading" : ""}`);
  return open.replace(/<\/discord-message>$/, `${actions}</discord-message>`);
}

async function renderMessages() {
  const generation = ++state.generation;
  const channel = state.channel;
  const data = await api(`/api/messages?channel=${channel}&member=${state.acting}`);
  if (generation !== state.generation) return;
  state.messages = data.messages;
  const scroller = $("#scroller");
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  $("#messages").innerHTML = data.messages.map(decorate).join("");
  $("#messages").dataset.shownChannel = channel;
  $("#messages").dataset.shownMember = state.acting;
  $("#messages").dataset.generation = String(generation);
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
}

async function refresh() {
  try {
    await Promise.all([renderMessages(), renderAccounts()]);
  } catch (error) {
    showError(`The playground did not answer: ${error.message}`);
  }
}

async function loadWorld() {
  state.world = await api("/api/state");
  state.acting = state.acting || state.world.acting;
  state.channel = state.channel || state.world.channels[0].id;
  renderSidebar();
}

function messageOf(element) {
  const el = element.closest("discord-message[data-message-id]");
  return el ? state.messages.find((m) => m.id === el.dataset.messageId) : null;
}

async function react(message, emoji) {
  const mine = message.reactions.find((r) => r.emoji === emoji && r.me);
  await api("/api/reaction", { member: state.acting, channel: message.channel_id, message: message.id, emoji, on: !mine });
}

document.addEventListener("click", async (event) => {
  const target = event.target;
  try {
    const channelButton = target.closest("#sidebar [data-channel]");
    if (channelButton) {
      state.channel = channelButton.dataset.channel;
      renderSidebar();
      await renderMessages();
      return;
    }
    const memberButton = target.closest("#members [data-member]");
    if (memberButton) {
      const wasDm = state.channel === state.world.dm_channels[state.acting];
      await api("/api/member", { member: memberButton.dataset.member });
      state.acting = memberButton.dataset.member;
      if (wasDm) state.channel = state.world.dm_channels[state.acting];
      renderSidebar();
      await renderMessages();
      return;
    }
    const modeButton = target.closest("#apple-modes [data-mode]");
    if (modeButton) {
      await api("/api/apple-mode", { mode: modeButton.dataset.mode });
      await loadWorld();
      return;
    }
    const message = messageOf(target);
    if (!message) return;
    const reactButton = target.closest(".pg-actions [data-react]");
    const reaction = target.closest("discord-reaction[data-emoji]");
    const button = target.closest("discord-button[data-custom-id]");
    if (reactButton) await react(message, reactButton.dataset.react);
    else if (reaction) await react(message, reaction.dataset.emoji);
    else if (button && !button.hasAttribute("disabled")) {
      await api("/api/button", { member: state.acting, channel: message.channel_id, message: message.id,
        custom_id: button.dataset.customId });
    }
  } catch (error) {
    showError(error.message);
  }
});

// ---------------------------------------------------------------------------------------------- composer
function commandMatches(text) {
  const wanted = text.slice(1).trim().toLowerCase();
  return state.world.commands.filter((c) => c.name.startsWith(wanted) || c.name.includes(wanted));
}

function showCommandList(text) {
  const list = $("#command-list");
  const matches = commandMatches(text);
  list.innerHTML = matches.map((c, i) =>
    `<li role="option" data-command="${escapeHtml(c.name)}" aria-selected="${i === 0}">/${escapeHtml(c.name)}` +
    `<span class="desc">${escapeHtml(c.description)}</span></li>`).join("");
  list.hidden = matches.length === 0;
}

function chooseCommand(name) {
  const command = state.world.commands.find((c) => c.name === name);
  if (!command) return;
  state.command = command;
  $("#command-list").hidden = true;
  $("#command-form").hidden = false;
  $("#command-name").textContent = `/${command.name}`;
  $("#command-options").innerHTML = command.options.map((o) => {
    const label = `<label for="opt-${o.name}">${escapeHtml(o.name)}${o.required ? " *" : ""}` +
      ` <small>${escapeHtml(o.description)}</small></label>`;
    if (o.choices.length) {
      const options = o.choices.map((c) => `<option value="${escapeHtml(c.value)}">${escapeHtml(c.name)}</option>`).join("");
      return `${label}<select id="opt-${o.name}" data-option="${o.name}"><option value=""></option>${options}</select>`;
    }
    return `${label}<input id="opt-${o.name}" data-option="${o.name}"${o.autocomplete ? " data-autocomplete" : ""}>`;
  }).join("");
  $("#composer").value = `/${command.name}`;
  const first = $("#command-options [data-option]");
  if (first) first.focus();
}

function clearCommand() {
  state.command = null;
  $("#command-form").hidden = true;
  $("#choices").hidden = true;
  $("#command-list").hidden = true;
  $("#composer").value = "";
}

function optionValues() {
  const values = {};
  for (const input of document.querySelectorAll("#command-options [data-option]")) {
    if (input.value !== "") values[input.dataset.option] = input.value;
  }
  return values;
}

let autocompleteSeq = 0;
async function autocomplete(input) {
  const seq = ++autocompleteSeq;
  const data = await api("/api/autocomplete", {
    member: state.acting, channel: state.channel, name: state.command.name,
    options: { ...optionValues(), [input.dataset.option]: input.value }, focused: input.dataset.option,
  });
  if (seq !== autocompleteSeq) return;
  const list = $("#choices");
  list.innerHTML = data.choices.map((c) =>
    `<li role="option" data-value="${escapeHtml(c.value)}" data-for="${input.dataset.option}">${escapeHtml(c.name)}</li>`).join("");
  list.hidden = data.choices.length === 0;
  list.dataset.for = input.dataset.option;
  list.dataset.seq = String(seq);
}

$("#composer").addEventListener("input", (event) => {
  const text = event.target.value;
  showError("");
  if (state.command && text !== `/${state.command.name}`) clearCommand();
  if (text.startsWith("/") && !state.command) showCommandList(text);
  else $("#command-list").hidden = true;
  event.target.value = text;
});

$("#composer").addEventListener("keydown", (event) => {
  if (event.key === "Escape") clearCommand();
  if (event.key === "Enter" && !state.command && !$("#command-list").hidden) {
    event.preventDefault();
    const first = $("#command-list li");
    if (first) chooseCommand(first.dataset.command);
  }
});

$("#command-list").addEventListener("click", (event) => {
  const item = event.target.closest("li[data-command]");
  if (item) chooseCommand(item.dataset.command);
});

$("#command-options").addEventListener("input", (event) => {
  const input = event.target.closest("input[data-autocomplete]");
  if (input) autocomplete(input).catch((error) => showError(error.message));
});

$("#command-options").addEventListener("focusin", (event) => {
  const input = event.target.closest("input[data-autocomplete]");
  if (input) autocomplete(input).catch((error) => showError(error.message));
});

$("#command-options").addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); $("#composer-form").requestSubmit(); }
  if (event.key === "Escape") clearCommand();
});

$("#choices").addEventListener("click", (event) => {
  const item = event.target.closest("li[data-value]");
  if (!item) return;
  const input = $(`#command-options [data-option="${item.dataset.for}"]`);
  if (input) input.value = item.dataset.value;
  $("#choices").hidden = true;
});

$("#composer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  try {
    if (state.command) {
      await api("/api/command", { member: state.acting, channel: state.channel, name: state.command.name,
        options: optionValues() });
      clearCommand();
    } else {
      const text = $("#composer").value.trim();
      if (!text) return;
      if (text.startsWith("/")) {
        const first = $("#command-list li");
        if (first) chooseCommand(first.dataset.command);
        return;
      }
      await api("/api/message", { member: state.acting, channel: state.channel, content: text });
      $("#composer").value = "";
    }
  } catch (error) {
    showError(error.message);
  }
});

// ------------------------------------------------------------------------------------------------ start
async function start() {
  await loadWorld();
  await refresh();
  const events = new EventSource("/api/events");
  events.addEventListener("change", () => refresh());
  document.body.dataset.ready = "true";
}

start().catch((error) => showError(`The playground did not start: ${error.message}`));
