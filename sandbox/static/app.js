// The sandbox page: a small Telegram client over the control API (sandbox/README.md).
// Updates arrive as server-sent events, one message at a time, and only that bubble is
// touched: the reader's scroll position and a finger on a button survive every update.
// Text is never parsed as HTML: the bot's formatting comes as Telegram's entities, built
// here into elements with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  userId: null, // who the page acts as
  chatId: null, // the chat shown
  world: {bot: {}, users: [], chats: []},
  bubbles: new Map(), // message_id -> element
  stuck: true, // the reader is at the bottom (see keepPlace)
  messages: new Map(), // message_id -> message
  source: null,
};

// ------------------------------------------------------------------ the page's words

// Dutch in the source; GET /sandbox/strings gives them in the language of whoever the
// page acts as, from the bot's catalogs (sandbox/page_strings.py finds every t("…") here
// and every data-t in index.html). A missing word shows in Dutch.
const words = {lang: "nl", dir: "ltr", timeLocale: "nl-NL", table: {}};

function t(text, values = {}) {
  let out = words.table[text] || text;
  for (const [name, value] of Object.entries(values)) out = out.replaceAll(`{${name}}`, value);
  return out;
}

// The marked texts of index.html, translated; their Dutch stays in data-source.
function translatePage() {
  for (const el of document.querySelectorAll("[data-t]")) {
    el.dataset.source ??= el.textContent.trim();
    el.textContent = t(el.dataset.source);
  }
  for (const el of document.querySelectorAll("[data-t-attrs]")) {
    for (const name of el.dataset.tAttrs.split(/\s+/)) {
      const key = "source" + name.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase());
      el.dataset[key] ??= el.getAttribute(name) || "";
      el.setAttribute(name, t(el.dataset[key]));
    }
  }
  document.documentElement.lang = words.lang;
  document.documentElement.dir = words.dir;
}

async function speak(languageCode) {
  const found = await api("GET", `/sandbox/strings?lang=${encodeURIComponent(languageCode || "")}`);
  Object.assign(words, {lang: found.lang, dir: found.dir, timeLocale: found.time_locale,
    table: found.strings});
  translatePage();
}

// ------------------------------------------------------------------ control API

async function api(method, path, body) {
  const init = {method, headers: {}};
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const payload = await response.json();
  if (!payload.ok) throw new Error(payload.description);
  return payload.result;
}

function toast(text, error = false) {
  $("toast").textContent = text;
  $("toast").classList.toggle("error", error);
}

// Every action reports a failure in one line instead of dying silently in the console.
function guarded(action) {
  return async (...args) => {
    try { await action(...args); } catch (error) { toast(error.message, true); }
  };
}

// ------------------------------------------------------------------ formatting

const TAGS = {
  bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code",
  blockquote: "blockquote", expandable_blockquote: "blockquote",
};
const SAFE_SCHEMES = new Set(["http:", "https:", "tg:", "mailto:", "tel:"]);

function safeUrl(raw) {
  try {
    const url = new URL(raw.includes(":") ? raw : "https://" + raw);
    return SAFE_SCHEMES.has(url.protocol) ? url : null;
  } catch { return null; }
}

// A t.me or tg:// link: a bot's ?start= deep link becomes `/start <param>` to that bot,
// a public chat's link opens it here. Null for anything else.
function telegramTarget(url) {
  let name = null;
  if ((url.protocol === "https:" || url.protocol === "http:") &&
      ["t.me", "telegram.me", "www.t.me"].includes(url.hostname)) {
    name = url.pathname.replace(/^\/+/, "").split("/")[0];
  } else if (url.protocol === "tg:" && url.hostname === "resolve") {
    name = url.searchParams.get("domain");
  }
  if (!name) return null;
  const bot = (state.world.bot.username || "").toLowerCase();
  if (name.toLowerCase() === bot) {
    const start = url.searchParams.get("start");
    return {command: start ? `/start ${start}` : "/start"};
  }
  const chat = state.world.chats.find((c) => (c.username || "").toLowerCase() === name.toLowerCase());
  return chat ? {chatId: chat.id} : null;
}

function link(raw, label) {
  const url = safeUrl(raw);
  if (!url) return element("span", "", label); // javascript: and the like stay text
  const a = document.createElement("a");
  a.href = url.href;
  a.textContent = label;
  const target = telegramTarget(url);
  if (target) {
    a.addEventListener("click", (event) => { event.preventDefault(); openTarget(target); });
  } else {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  return a;
}

const openTarget = guarded(async (target) => {
  if (target.command) {
    // A deep link opens the private chat with the bot and sends /start there, as Telegram does.
    selectChat(state.userId);
    await say(target.command, state.userId);
  } else selectChat(target.chatId);
});

function commandLink(command) {
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = command;
  a.addEventListener("click", guarded(async (event) => {
    event.preventDefault();
    await say(command, state.chatId);
  }));
  return a;
}

function spoiler() {
  const span = document.createElement("span");
  span.className = "spoiler";
  span.tabIndex = 0;
  span.setAttribute("role", "button");
  span.setAttribute("aria-label", t("Verborgen tekst, tik om te tonen"));
  const show = () => { span.classList.add("shown"); span.removeAttribute("aria-label"); };
  span.addEventListener("click", show);
  span.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") show(); });
  return span;
}

// The element for one entity, or null for entities shown as plain text.
function entityElement(entity, text) {
  const part = text.slice(entity.offset, entity.offset + entity.length);
  switch (entity.type) {
    case "pre": {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (entity.language) code.dataset.language = entity.language;
      pre.append(code);
      return {outer: pre, inner: code};
    }
    case "text_link": return {outer: link(entity.url, "")};
    case "url": return {outer: link(part, "")};
    case "email": return {outer: link("mailto:" + part, "")};
    case "phone_number": return {outer: link("tel:" + part.replace(/[^+\d]/g, ""), "")};
    case "bot_command": return {outer: commandLink(part), leaf: true};
    case "spoiler": return {outer: spoiler()};
    default: {
      const tag = TAGS[entity.type];
      return tag ? {outer: document.createElement(tag)} : null;
    }
  }
}

// Text plus Telegram entities as DOM nodes. Offsets are UTF-16 code units, as JS strings.
// Entities may nest or overlap: the text is cut at every boundary and each piece gets the
// entities covering it, reusing the open elements they share with the piece before.
function formatted(text, entities) {
  const root = document.createDocumentFragment();
  const list = (entities || [])
    .map((e, i) => ({...e, i, end: Math.min(text.length, e.offset + e.length)}))
    .filter((e) => e.end > e.offset)
    .sort((a, b) => a.offset - b.offset || b.end - a.end || a.i - b.i);
  const cuts = [...new Set([0, text.length, ...list.flatMap((e) => [e.offset, e.end])])]
    .sort((a, b) => a - b);
  const stack = [{node: root, entity: null, leaf: false}];
  for (let k = 0; k + 1 < cuts.length; k++) {
    const start = cuts[k], end = cuts[k + 1];
    const active = list.filter((e) => e.offset <= start && e.end >= end);
    let depth = 1;
    while (depth < stack.length && stack[depth].entity === active[depth - 1]) depth++;
    stack.length = depth;
    if (stack[depth - 1].leaf) continue; // a command link already holds its whole text
    for (const entity of active.slice(depth - 1)) {
      const made = entityElement(entity, text);
      if (!made) { stack.push({node: stack[stack.length - 1].node, entity, leaf: false}); continue; }
      stack[stack.length - 1].node.append(made.outer);
      stack.push({node: made.inner || made.outer, entity, leaf: !!made.leaf});
      if (made.leaf) break;
    }
    const top = stack[stack.length - 1];
    if (!top.leaf) top.node.append(text.slice(start, end));
  }
  return root;
}

// ------------------------------------------------------------------ messages

const SERVICE = {
  group_chat_created: () => t("Groep gemaakt"),
  supergroup_chat_created: () => t("Supergroep gemaakt"),
  new_chat_members: (m) => t("{names} kwam erbij",
    {names: m.new_chat_members.map((u) => u.first_name).join(", ")}),
  left_chat_member: (m) => t("{name} ging weg", {name: m.left_chat_member.first_name}),
  new_chat_title: (m) => t("Nieuwe naam: {title}", {title: m.new_chat_title}),
  migrate_to_chat_id: () => t("Deze groep is nu een supergroep"),
  migrate_from_chat_id: () => t("Supergroep gemaakt uit een groep"),
  pinned_message: () => t("Bericht vastgezet"),
};

function fileUrl(fileId) { return `/sandbox/files/${encodeURIComponent(fileId)}`; }

function sizeText(bytes) {
  if (!bytes) return "";
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} kB`
    : `${(bytes / 1048576).toFixed(1)} MB`;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function media(message) {
  const parts = [];
  if (message.photo) {
    const biggest = message.photo[message.photo.length - 1];
    const img = element("img", "photo");
    img.src = fileUrl(biggest.file_id);
    img.alt = message.caption ? t("Foto: {caption}", {caption: message.caption}) : t("Foto");
    img.width = biggest.width; img.height = biggest.height;
    parts.push(img);
  }
  if (message.sticker) {
    const img = element("img", "photo");
    img.src = fileUrl(message.sticker.file_id);
    img.alt = t("Sticker {emoji}", {emoji: message.sticker.emoji || ""});
    img.width = 128; img.height = 128;
    parts.push(img);
  }
  if (message.document) {
    const doc = message.document;
    const a = element("a", "file");
    a.href = fileUrl(doc.file_id);
    a.download = doc.file_name || t("bestand");
    a.append(element("span", "", "📄 " + (doc.file_name || t("bestand"))),
      element("span", "size", sizeText(doc.file_size)));
    parts.push(a);
  }
  if (message.contact) {
    const c = message.contact;
    const card = element("div", "contact");
    card.append(element("span", "name", [c.first_name, c.last_name].filter(Boolean).join(" ")));
    const tel = element("a", "", "📞 " + c.phone_number);
    tel.href = "tel:" + c.phone_number.replace(/[^+\d]/g, "");
    card.append(tel);
    parts.push(card);
  }
  if (message.location) {
    const {latitude, longitude} = message.location;
    const place = element("div", "place");
    const a = element("a", "", `📍 ${latitude.toFixed(5)}, ${longitude.toFixed(5)}`);
    a.href = `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`;
    a.target = "_blank"; a.rel = "noopener noreferrer";
    place.append(a);
    parts.push(place);
  }
  return parts;
}

function inlineKeyboard(message) {
  const rows = message.reply_markup?.inline_keyboard ?? [];
  if (!rows.length || message.deleted) return null;
  const box = element("div", "inline-keyboard");
  for (const row of rows) {
    const line = element("div", "row");
    for (const button of row) {
      if (button.url) {
        const a = link(button.url, button.text);
        a.classList?.add("button");
        line.append(a);
      } else if (button.callback_data !== undefined) {
        const press = element("button", "", button.text);
        press.type = "button";
        press.addEventListener("click", () => pressButton(message, button.callback_data, press));
        line.append(press);
      } else {
        // switch_inline_query, web_app, ...: shown, not playable in the sandbox.
        const other = element("button", "", button.text);
        other.type = "button"; other.disabled = true;
        line.append(other);
      }
    }
    box.append(line);
  }
  return box;
}

function senderName(message) {
  const chat = message.chat;
  if (chat.type === "private") return null;
  if (message.sender_chat) return message.sender_chat.title;
  return message.from ? message.from.first_name : null;
}

function bubble(message) {
  const service = Object.keys(SERVICE).find((key) => key in message);
  if (service) {
    const div = element("div", "msg service", SERVICE[service](message));
    div.dir = "auto";
    return div;
  }
  const mine = !message.from_bot && message.from?.id === state.userId && !message.sender_chat;
  const div = element("div", "msg" + (mine ? " mine" : "") + (message.deleted ? " deleted" : ""));
  div.dir = "auto"; // each bubble finds its own direction: Arabic right to left
  div.dataset.messageId = message.message_id;
  const name = senderName(message);
  if (name && !mine) div.append(element("div", "sender", name));
  if (message.deleted) {
    div.append(element("div", "body", t("Bericht verwijderd")));
    return div;
  }
  if (message.reply_to_message) {
    const quoted = message.reply_to_message;
    div.append(element("div", "quote", (quoted.text || quoted.caption || "…").slice(0, 120)));
  }
  div.append(...media(message));
  const text = message.text ?? message.caption;
  if (text) {
    const body = element("div", "body");
    body.append(formatted(text, message.entities ?? message.caption_entities));
    div.append(body);
  }
  const keyboard = inlineKeyboard(message);
  if (keyboard) div.append(keyboard);
  const time = new Date(message.date * 1000).toLocaleTimeString(words.timeLocale, {hour: "2-digit", minute: "2-digit"});
  div.append(element("div", "meta", time + (message.edited ? " · " + t("bewerkt") : "")));
  return div;
}

function atBottom(log) { return log.scrollHeight - log.scrollTop - log.clientHeight < 48; }

// Whether the reader is at the newest message, as of their last scroll. Whatever grows
// the chat (a message, a photo that loaded, a keyboard taking room) keeps them there;
// someone who scrolled back to read stays where they are.
function keepPlace() {
  const log = $("log");
  if (state.stuck) log.scrollTop = log.scrollHeight;
}

// One message new or changed: add or replace its bubble only.
function applyMessage(message) {
  if (message.chat.id !== state.chatId) return;
  const log = $("log");
  const fresh = bubble(message);
  const old = state.bubbles.get(message.message_id);
  state.messages.set(message.message_id, message);
  state.bubbles.set(message.message_id, fresh);
  if (old) old.replaceWith(fresh);
  else {
    log.querySelector(".empty")?.remove();
    // Messages arrive in order; a late one still lands in its place.
    const next = [...state.bubbles.keys()].filter((id) => id > message.message_id).sort((a, b) => a - b)
      .map((id) => state.bubbles.get(id)).find((el) => el && el.isConnected);
    if (next) next.before(fresh); else log.append(fresh);
    if (!state.stuck) $("to-bottom").hidden = false;
  }
  for (const img of fresh.querySelectorAll("img")) img.addEventListener("load", keepPlace);
  updateReplyKeyboard();
  keepPlace();
}

// The reply keyboard the bot set last in this chat (Telegram keeps it until removed).
function updateReplyKeyboard() {
  const box = $("keyboard");
  let markup = null;
  const ids = [...state.messages.keys()].sort((a, b) => a - b);
  for (const id of ids) {
    const m = state.messages.get(id);
    if (m.from_bot && m.reply_keyboard) {
      markup = m.reply_keyboard.keyboard ? m.reply_keyboard : null;
      markup = markup && {...markup, after: id};
    } else if (markup && markup.one_time_keyboard && !m.from_bot && m.from?.id === state.userId && id > markup.after) {
      markup = null; // a one-time keyboard folds away after the user answers
    }
  }
  $("text").placeholder = markup?.input_field_placeholder || t("Bericht, bijv. /start");
  const key = markup ? JSON.stringify(markup.keyboard) : "";
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  box.hidden = !markup;
  if (!markup) return;
  for (const row of markup.keyboard) {
    const line = element("div", "row");
    for (const button of row) {
      const label = typeof button === "string" ? button : button.text;
      const b = element("button", "", label);
      b.type = "button";
      if (button.request_location) b.addEventListener("click", () => toggleLocation(true));
      else b.addEventListener("click", guarded(() => say(label, state.chatId)));
      line.append(b);
    }
    box.append(line);
  }
}

// ------------------------------------------------------------------ acting as the user

async function say(text, chatId) {
  await api("POST", "/sandbox/send", {user_id: state.userId, chat_id: chatId, text});
}

const pressButton = guarded(async (message, data, press) => {
  press.classList.add("pressed");
  try {
    const {callback_query_id} = await api("POST", "/sandbox/press",
      {user_id: state.userId, chat_id: message.chat.id, message_id: message.message_id, data});
    const answer = await api("GET", `/sandbox/callbacks/${callback_query_id}?timeout=10`);
    toast(answer?.text ? (answer.show_alert ? "⚠ " : "") + answer.text : "");
  } finally { press.classList.remove("pressed"); }
});

function toggleLocation(open) {
  const form = $("location-form");
  form.hidden = open === undefined ? !form.hidden : !open;
  $("location-button").setAttribute("aria-expanded", String(!form.hidden));
}

// ------------------------------------------------------------------ menus and stream

function chatLabel(chat) {
  if (chat.type === "private") return t("{bot} (privé)", {bot: state.world.bot.first_name || "Bot"});
  const kind = chat.type === "channel" ? t("kanaal") : t("groep");
  const mark = chat.status ? "" : " · " + t("niet gevolgd");
  return `${chat.title} (${kind}${mark})`;
}

function fillSelect(select, items, value) {
  const options = items.map(([id, label]) => {
    const option = element("option", "", label);
    option.value = String(id);
    return option;
  });
  const same = select.options.length === options.length &&
    options.every((o, i) => select.options[i].value === o.value && select.options[i].textContent === o.textContent);
  if (!same) select.replaceChildren(...options);
  if (value !== null && value !== undefined) select.value = String(value);
}

function currentChat() { return state.world.chats.find((c) => c.id === state.chatId); }

function applyWorld(world) {
  state.world = world;
  fillSelect($("user"), world.users.map((u) => [u.id, `${u.first_name} · ${u.language_code || "-"} · ${u.id}`]), state.userId);
  const chats = [...world.chats];
  if (state.userId !== null && !chats.some((c) => c.id === state.userId)) {
    chats.unshift({id: state.userId, type: "private", status: "member"}); // before the first message
  }
  fillSelect($("chat"), chats.map((c) => [c.id, chatLabel(c)]), state.chatId);
  const others = world.users.filter((u) => u.id !== state.userId);
  fillSelect($("member-user"), others.map((u) => [u.id, u.first_name]), null);
  if (!world.users.length) $("menu").open = true;
  updateChatControls();
}

function updateChatControls() {
  const chat = currentChat();
  const isChannel = chat?.type === "channel";
  const canPost = !isChannel || ["creator", "administrator"].includes(chat.status);
  $("composer").hidden = state.userId === null || !canPost;
  // Followers and passers-by of a channel get the button; its creator and admins post.
  $("follow").hidden = !isChannel || canPost;
  $("follow-button").textContent = chat?.status ? t("Ontvolg dit kanaal") : t("Volg dit kanaal");
  $("member-form").hidden = !chat || chat.type === "private" || isChannel;
  // The bot's web_app menu button, as Telegram draws it beside the message field.
  const menu = chat?.type === "private" ? chat.menu_button : null;
  $("menu-button").hidden = menu?.type !== "web_app";
  $("menu-button").textContent = menu?.type === "web_app" ? menu.text : "";
}

function openStream() {
  state.source?.close();
  const params = new URLSearchParams();
  if (state.userId !== null) params.set("user_id", state.userId);
  if (state.chatId !== null) params.set("chat_id", state.chatId);
  const source = new EventSource(`/sandbox/events?${params}`);
  state.source = source;
  source.addEventListener("hello", () => {
    // A fresh stream (first open, or after the sandbox restarted) sends the whole chat.
    state.bubbles.clear();
    state.messages.clear();
    const log = $("log");
    log.replaceChildren(element("p", "empty",
      state.userId === null ? t("Maak eerst een gebruiker aan.") : t("Nog geen berichten. Stuur /start.")));
    $("to-bottom").hidden = true;
    state.stuck = true;
    updateReplyKeyboard();
  });
  source.addEventListener("world", (event) => applyWorld(JSON.parse(event.data)));
  source.addEventListener("msg", (event) => applyMessage(JSON.parse(event.data)));
}

// The page speaks the language of the phone it plays, as the bot does.
const selectUser = guarded(async (userId) => {
  state.userId = userId;
  const user = state.world.users.find((u) => u.id === userId);
  if (user) await speak(user.language_code);
  state.chatId = null; // opened again below, its bubbles in the new words
  selectChat(userId);
});

function selectChat(chatId) {
  if (chatId === state.chatId && state.source) return;
  state.chatId = chatId;
  updateChatControls();
  openStream();
}

// ------------------------------------------------------------------ wiring

function wire() {
  $("user").addEventListener("change", () => selectUser(Number($("user").value)));
  $("chat").addEventListener("change", () => selectChat(Number($("chat").value)));
  $("user-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const user = await api("POST", "/sandbox/users",
      {first_name: $("user-name").value.trim() || "Anna", language_code: $("user-lang").value});
    $("menu").open = false;
    state.world.users.push(user);
    await selectUser(user.id);
    const language = user.language_code || t("geen");
    toast(t("{name} gemaakt (taal {lang}).", {name: user.first_name, lang: language}));
  }));
  $("chat-type").addEventListener("change", () => {
    $("chat-bot-admin").checked = $("chat-type").value === "channel";
  });
  $("chat-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    if (state.userId === null) throw new Error(t("Maak eerst een gebruiker aan."));
    const type = $("chat-type").value;
    const chat = await api("POST", "/sandbox/chats",
      {type, title: $("chat-title").value.trim(), creator_id: state.userId});
    if ($("chat-bot").checked) {
      await api("POST", `/sandbox/chats/${chat.id}/add_bot`,
        {by: state.userId, admin: $("chat-bot-admin").checked, can_post_messages: true});
    }
    $("menu").open = false;
    selectChat(chat.id);
  }));
  $("member-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await api("POST", `/sandbox/chats/${state.chatId}/add_member`,
      {user_id: Number($("member-user").value), by: state.userId});
  }));
  $("follow-button").addEventListener("click", guarded(async () => {
    const action = currentChat()?.status ? "unfollow" : "follow";
    await api("POST", `/sandbox/chats/${state.chatId}/${action}`, {user_id: state.userId});
  }));
  $("composer").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text || state.userId === null) return;
    $("text").value = "";
    state.stuck = true; // your own message: go to it
    await say(text, state.chatId);
  }));
  // The Mini App opens in a tab of its own, with initData the sandbox signs as Telegram does.
  $("menu-button").addEventListener("click", guarded(async () => {
    const opened = await api("GET", `/sandbox/users/${state.userId}/webapp`);
    // The bot chose the address: only a web page opens, never a javascript: URL.
    const url = safeUrl(opened.url);
    if (!url || !url.protocol.startsWith("http")) throw new Error(t("Geen geldig adres voor de Mini App."));
    window.open(url.href, "_blank");
  }));
  $("photo-button").addEventListener("click", () => $("photo-file").click());
  $("photo-file").addEventListener("change", guarded(async () => {
    const file = $("photo-file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("user_id", state.userId);
    form.append("chat_id", state.chatId);
    form.append("photo", file, file.name);
    const caption = $("text").value.trim();
    if (caption) form.append("caption", caption);
    $("text").value = "";
    $("photo-file").value = "";
    await api("POST", "/sandbox/send_photo", form);
  }));
  $("location-button").addEventListener("click", () => toggleLocation());
  $("location-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await api("POST", "/sandbox/send_location", {user_id: state.userId, chat_id: state.chatId,
      latitude: Number($("lat").value.replace(",", ".")), longitude: Number($("lon").value.replace(",", "."))});
    toggleLocation(false);
  }));
  $("log").addEventListener("scroll", () => {
    state.stuck = atBottom($("log"));
    if (state.stuck) $("to-bottom").hidden = true;
  });
  $("to-bottom").addEventListener("click", () => {
    $("log").scrollTop = $("log").scrollHeight;
    $("to-bottom").hidden = true;
  });
}

async function start() {
  wire();
  const users = await api("GET", "/sandbox/users");
  // ?user=ID opens the page as that user (a link to hand someone, or a test).
  const wanted = Number(new URLSearchParams(location.search).get("user"));
  const user = users.find((u) => u.id === wanted) ?? users[0];
  state.world.users = users;
  if (!users.length) $("menu").open = true; // nobody yet: the form to make someone
  if (user) await selectUser(user.id);
  else { await speak(null); openStream(); }
}

start().catch((error) => toast(error.message, true));
