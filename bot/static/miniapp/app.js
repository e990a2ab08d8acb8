// The coordinator's Mini App: plain JS, no build step, nothing fetched from elsewhere.
// initData: from Telegram's script when a client loaded it, else from the URL
// (#tgWebAppData=... as Telegram's clients pass it, or ?tgWebAppData=... from the sandbox).
"use strict";

function initData() {
  const tg = window.Telegram && window.Telegram.WebApp;
  if (tg && tg.initData) return tg.initData;
  const hash = new URLSearchParams(location.hash.slice(1));
  return hash.get("tgWebAppData") || new URLSearchParams(location.search).get("tgWebAppData") || "";
}

const state = { auth: initData(), texts: {}, kind: "week", code: "", place: "*", figures: null, mapKey: "subscribed" };

async function api(name, query, method) {
  const url = "api/" + name + (query ? "?" + new URLSearchParams(query) : "");
  const response = await fetch(url, { method: method || "GET", headers: { Authorization: "tma " + state.auth } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.status);
  return body;
}

function t(key) { return state.texts[key] || key; }
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child);  // text nodes: never HTML
  return node;
}
function n(value) { return value === null ? "<" + state.hidden : new Intl.NumberFormat(document.documentElement.lang).format(value); }
function say(text) { document.getElementById("status").textContent = text; }

function applyTexts(me) {
  state.texts = me.texts;
  document.documentElement.lang = me.language;
  document.documentElement.dir = me.dir;
  document.title = t("title");
  document.getElementById("title").textContent = t("title") + " · " + me.city;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
  for (const node of document.querySelectorAll("[data-label]")) node.setAttribute("aria-label", t(node.dataset.label));
}

function drawMap(me) {
  const map = document.getElementById("map");
  if (state.geo && state.geo.geographic) {  // real boundaries: map.js draws them
    const pick = (key) => { state.place = key; drawFigures(); drawMap(me); };
    const places = state.figures ? state.figures.places : [];
    return window.geoMap.draw(map, state.geo, { places, key: state.mapKey, selected: state.place, format: n, pick, label: t("map") });
  }
  const cols = Math.max(1, ...me.tiles.map((tile) => tile.col + 1));
  map.style.gridTemplateColumns = "repeat(" + cols + ", minmax(0, 1fr))";  // tiles shrink to fit 320 px
  map.replaceChildren();
  const places = state.figures ? state.figures.places : [];
  const values = places.filter((p) => p.key !== "*").map((p) => p.figures[state.mapKey] || 0);
  const top = Math.max(1, ...values);
  for (const tile of me.tiles) {
    const place = places.find((p) => p.key === tile.key);
    const value = place ? place.figures[state.mapKey] : 0;
    const share = value === null ? 0 : (value || 0) / top;
    const button = el("button", { type: "button", "aria-pressed": String(state.place === tile.key) },
      el("strong", { lang: "nl" }, tile.name), n(value));  // Dutch names: read and hyphenated as Dutch
    button.style.gridRow = String(tile.row + 1);
    button.style.gridColumn = String(tile.col + 1);
    // Light to mid blue only, so the dark text keeps its contrast on every tile.
    button.style.background = "hsl(210, 70%, " + (96 - share * 36) + "%)";
    button.addEventListener("click", () => { state.place = tile.key; drawFigures(); drawMap(me); });
    map.append(button);
  }
}

function drawFigures() {
  const data = state.figures;
  state.hidden = data.hidden_below;
  document.getElementById("period-title").textContent = data.period.title;
  document.getElementById("prev").disabled = false;
  document.getElementById("next").disabled = !data.period.next;
  for (const button of document.querySelectorAll("[data-kind]")) button.setAttribute("aria-pressed", String(button.dataset.kind === data.period.kind));
  const select = document.getElementById("place");
  select.replaceChildren(...data.places.map((p) => el("option", { value: p.key }, p.name)));
  if (!data.places.some((p) => p.key === state.place)) state.place = data.places[0].key;
  select.value = state.place;
  const place = data.places.find((p) => p.key === state.place);
  const notes = [];
  if (data.hidden_below) notes.push(t("hidden").replace("{n}", data.hidden_below));
  if (!data.states_then) notes.push(t("now_states"));
  document.getElementById("figures-note").textContent = notes.join(" ");
  const rows = Object.entries(data.labels).filter(([key]) => !key.startsWith("cat:") || place.figures[key]);
  document.querySelector("#figures tbody").replaceChildren(...rows.map(([key, label]) => {
    const cells = [el("td", {}, label), el("td", { class: "n" }, n(place.figures[key]))];
    if (place.before) cells.push(el("td", { class: "n note" }, t("before") + " " + n(place.before[key])));
    return el("tr", {}, ...cells);
  }));
}

async function loadFigures(query) {
  state.figures = await api("figures", query);
  state.code = state.figures.period.code;
  drawFigures();
  drawMap(state.me);
  drawTrend(await api("trend", { kind: state.figures.period.kind }));
}

function drawTrend(data) {
  const box = document.getElementById("trend");
  const place = data.places.find((p) => p.key === state.place) || data.places[0];
  box.replaceChildren(...data.keys.map((key) => {
    const series = place.series[key];
    const top = Math.max(1, ...series.map((v) => v || 0));
    const text = data.periods.map((p, i) => p.title + ": " + n(series[i])).join(", ");
    const bars = el("div", { class: "bars", role: "img", "aria-label": data.labels[key] + ". " + text },
      ...series.map((v) => { const bar = el("span", {}); bar.style.height = ((v || 0) / top * 100) + "%"; return bar; }));
    return el("div", {}, el("h3", {}, data.labels[key]), bars);
  }));
}

function askButton(item) {
  // The chat's "still active?" button: the server asks the contact, as /overzicht does.
  const button = el("button", { type: "button" }, t("ask").replace("{name}", item.name));
  button.addEventListener("click", async () => {
    try {
      const answer = await api("teams/" + item.kind + "/" + item.id + "/ask", null, "POST");
      say(answer.sent ? t("asked") : t("not_reached"));
    } catch (error) { fail(error); }
  });
  return el("div", {}, button);
}

function drawTeams(data) {
  const items = data.items.map((item) => el("li", {},
    el("strong", {}, (item.kind === "team" ? t("team") : t("group")) + " " + item.name), " ",
    el("span", { class: "tag" }, t("status_" + item.status)), " ",
    item.dormant ? el("span", { class: "tag dormant" }, t("dormant")) : "",
    el("div", { class: "note" }, (item.wijk_name || "?") + " · " + t("last_sign") + ": " + item.last_sign_text),
    item.may_ask ? askButton(item) : ""));
  document.getElementById("teams").replaceChildren(...(items.length ? items : [el("li", {}, t("none"))]));
}

function drawBroadcasts(data) {
  state.hidden = data.hidden_below || state.hidden;
  // A calendar as an agenda: one heading per day, the day's announcements under it.
  const days = [];
  for (const item of data.items) {
    const last = days[days.length - 1];
    if (last && last.day === item.day) last.items.push(item);
    else days.push({ day: item.day, text: item.day_text, items: [item] });
  }
  const list = (items) => items.map((item) => el("li", {},
    el("strong", {}, item.kind_name), " ", el("span", { class: "tag " + item.state }, t("state_" + item.state)),
    el("div", { class: "note" }, item.when_text + " · " + (item.wijken ? item.wijken.join(", ") : t("everyone"))),
    el("div", {}, t("delivered") + " " + n(item.delivered) + " · " + t("failed_count") + " " + n(item.failed) + " · " + t("waiting") + " " + n(item.waiting)),
    item.replies.length ? el("div", {}, t("replies") + ": " + item.replies.map((r) => r.label + " " + n(r.count)).join(" · ")) : ""));
  const groups = days.map((group) => el("li", { class: "day" },
    el("h3", {}, group.text), el("ul", { class: "list" }, ...list(group.items))));
  document.getElementById("broadcasts").replaceChildren(...(groups.length ? groups : [el("li", {}, t("none"))]));
}

// Reports by status, never their texts; a coordinator opens one on purpose (audited).
async function loadReports(status) {
  const data = await api("reports", status ? { status: status } : null);
  state.hidden = data.hidden_below || state.hidden;
  document.getElementById("report-statuses").replaceChildren(...data.statuses.map((s) => {
    const button = el("button", { type: "button", "aria-pressed": String(s.status === data.status) }, s.label + " (" + n(s.count) + ")");
    button.addEventListener("click", () => loadReports(s.status).catch(fail));
    return button;
  }));
  const items = data.items.map((item) => {
    const details = el("div", { class: "details", role: "region", "aria-label": t("details").replace("{ref}", item.ref), hidden: "" });
    const open = el("button", { type: "button", "aria-expanded": "false" }, t("details").replace("{ref}", item.ref));
    open.addEventListener("click", async () => {
      try {
        const found = await api("reports/" + encodeURIComponent(item.ref), null, "POST");
        details.replaceChildren(...found.lines.map((line) => el("p", {}, line)));
        details.hidden = false;
        open.setAttribute("aria-expanded", "true");
      } catch (error) { fail(error); }
    });
    return el("li", {}, el("strong", {}, item.ref), " · " + item.category + " · " + item.area,
      el("div", { class: "note" }, t("happened") + ": " + item.happened + " · " + t("filed") + ": " + item.filed),
      data.details ? el("div", {}, open) : "", details);
  });
  document.getElementById("reports").replaceChildren(...(items.length ? items : [el("li", {}, t("none"))]));
}

// The yearly report (coordinators): fetched with initData, then saved from a blob.
async function downloadYearly(year, ext) {
  const response = await fetch("api/yearly." + ext + "?year=" + year, { headers: { Authorization: "tma " + state.auth } });
  if (!response.ok) throw new Error((await response.json()).error || response.status);
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: "jaarrapport-" + year + "." + ext });
  document.body.append(link);
  link.click();
  link.remove();
}

async function start() {
  try {
    const me = await api("me");
    state.me = me;
    applyTexts(me);
    say(t("loading"));
    state.geo = me.geographic ? await api("map") : null;
    if (state.geo) window.geoMap.note(state.geo, state.texts);
    const figure = document.getElementById("map-figure");
    for (const key of ["subscribed", "reports", "teams_active", "groups_active", "teams_dormant", "groups_dormant"]) figure.append(el("option", { value: key }, key));
    figure.addEventListener("change", () => { state.mapKey = figure.value; drawMap(me); });
    document.getElementById("place").addEventListener("change", (event) => { state.place = event.target.value; drawFigures(); drawMap(me); });
    for (const button of document.querySelectorAll("[data-kind]")) button.addEventListener("click", () => loadFigures({ kind: button.dataset.kind }).catch(fail));
    document.getElementById("prev").addEventListener("click", () => loadFigures({ period: state.figures.period.previous }).catch(fail));
    document.getElementById("next").addEventListener("click", () => state.figures.period.next && loadFigures({ period: state.figures.period.next }).catch(fail));
    await loadFigures({ kind: "week" });
    if (me.scope === "city") {
      for (const [id, key, ext] of [["yearly", "yearly", "xlsx"], ["yearly-pdf", "yearly_pdf", "pdf"]]) {
        const button = document.getElementById(id);
        button.textContent = t(key).replace("{year}", me.year);
        button.hidden = false;
        button.addEventListener("click", () => downloadYearly(me.year, ext).catch(fail));
      }
    }
    // The statement in the reader's language; initData rides along for the way back.
    document.getElementById("statement").href = "toegankelijkheid?lang=" + encodeURIComponent(me.language) + "#tgWebAppData=" + encodeURIComponent(state.auth);
    // Reports per category too: one choice for each category the figures know.
    for (const key of Object.keys(state.figures.labels)) {
      if (key.startsWith("cat:") && ![...figure.options].some((option) => option.value === key)) figure.append(el("option", { value: key }, key));
    }
    for (const option of figure.options) option.textContent = state.figures.labels[option.value] || option.value;
    drawTeams(await api("teams"));
    drawBroadcasts(await api("broadcasts"));
    await loadReports();
    say("");
  } catch (error) { fail(error); }
  if (window.Telegram && window.Telegram.WebApp) window.Telegram.WebApp.ready();
}

function fail(error) { say((state.texts.failed || "Dat lukte niet.") + " (" + error.message + ")"); }

start();
