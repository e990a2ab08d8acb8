// The geographic map of the Mini App: the wijken's own polygons (GET api/map, drawn by the
// server from the areas file's CBS boundaries) as SVG, coloured by the chosen figure. Kept
// apart from app.js, which draws the tile map when the areas file has centres only.
"use strict";

window.geoMap = (() => {
  const SVG = "http://www.w3.org/2000/svg";

  function node(tag, attrs, text) {
    const made = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) made.setAttribute(k, v);
    if (text !== undefined) made.textContent = text;  // text, never markup
    return made;
  }

  // Swap the tile map's note for one that says this map is geographic.
  function note(geo, texts) {
    const shown = document.querySelector('[data-text="map_note"]');
    if (shown && geo.geographic) shown.textContent = texts.map_note_geo;
  }

  // options: places (api/figures), key (the figure), selected, format(value), pick(key), label.
  function draw(box, geo, options) {
    const refocus = box.contains(document.activeElement);
    box.className = "geo";
    box.style.gridTemplateColumns = "";
    const values = options.places.filter((p) => p.key !== "*").map((p) => p.figures[options.key] || 0);
    const top = Math.max(1, ...values);
    const svg = node("svg", { viewBox: geo.viewbox.join(" "), role: "group", "aria-label": options.label });
    const labels = [];
    let chosen = null;
    for (const wijk of geo.wijken) {
      const place = options.places.find((p) => p.key === wijk.key);
      const value = place ? place.figures[options.key] : 0;
      const share = value === null ? 0 : (value || 0) / top;
      const selected = options.selected === wijk.key;
      const shape = node("path", {
        d: wijk.path, "fill-rule": "evenodd", class: "wijk" + (selected ? " chosen" : ""), "data-key": wijk.key,
        tabindex: "0", role: "button", "aria-pressed": String(selected), "aria-label": wijk.name + ": " + options.format(value),
      });
      // Light to mid blue only, as on the tiles, so the names keep their contrast.
      shape.style.fill = "hsl(210, 70%, " + (96 - share * 36) + "%)";
      shape.append(node("title", {}, wijk.name + ": " + options.format(value)));
      shape.addEventListener("click", () => options.pick(wijk.key));
      shape.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); options.pick(wijk.key); }
      });
      svg.append(shape);
      if (selected) chosen = shape;
      labels.push(node("text", { x: wijk.label[0], y: wijk.label[1], class: "name", lang: "nl", "aria-hidden": "true" }, wijk.name));
    }
    if (chosen) svg.append(chosen);  // after its neighbours, so their edges do not cover its outline
    for (const buurt of geo.buurten) svg.append(node("path", { d: buurt.path, "fill-rule": "evenodd", class: "buurt", "aria-hidden": "true" }));
    svg.append(...labels);
    box.replaceChildren(svg);
    // Names at 14 screen pixels however wide the phone: the drawing's units scale, text must not.
    const units = geo.viewbox[2] / (svg.getBoundingClientRect().width || geo.viewbox[2]);
    for (const label of labels) { label.style.fontSize = (14 * units) + "px"; label.style.strokeWidth = (3 * units) + "px"; }
    if (refocus && chosen) chosen.focus();
  }

  return { draw, note };
})();
