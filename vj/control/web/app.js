// vj control page: one WebSocket, state both ways. The controls are built from the parameter
// table the server sends ("schema"), grouped as docs/osc.md groups them.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const vj = (window.vj = { values: {}, state: {}, specs: {}, connected: false, sent: 0, received: 0 });
  const HOLD_MS = 400;          // a control being moved here ignores echoes for this long
  const touched = {};           // name → performance.now() of the last local move
  const pending = {};           // name → message, sent on the next animation frame (latest wins)
  let ws = null, retry = 250, frameQueued = false, previewUrl = null, schemaKey = "";

  // ---- the connection ------------------------------------------------------------------------
  function connect() {
    const token = new URLSearchParams(location.search).get("token");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" +
      (token ? "?token=" + encodeURIComponent(token) : "");
    ws = new WebSocket(url);
    ws.binaryType = "blob";
    ws.onopen = () => { retry = 250; vj.connected = true; setLink(true); wantPreview(); };
    ws.onclose = () => { vj.connected = false; setLink(false); setTimeout(connect, retry); retry = Math.min(retry * 2, 4000); };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") { showPreview(event.data); return; }
      vj.received++;
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      const handler = handlers[message.t];
      if (handler) handler(message);
    };
  }
  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(message)); vj.sent++; }
  }
  vj.send = send;
  function sendSoon(name, message) {       // fader moves: at most one per frame per control
    pending[name] = message;
    touched[name] = performance.now();
    if (!frameQueued) {
      frameQueued = true;
      requestAnimationFrame(() => {
        frameQueued = false;
        for (const key of Object.keys(pending)) { send(pending[key]); delete pending[key]; }
      });
    }
  }
  function setLink(on) { const el = $("link"); el.textContent = on ? "live" : "offline"; el.className = on ? "" : "off"; }
  function wantPreview() { send({ t: "preview", on: document.visibilityState === "visible" }); }
  document.addEventListener("visibilitychange", wantPreview);
  function showPreview(blob) {
    const url = URL.createObjectURL(blob);
    const img = $("preview");
    img.onload = () => { if (previewUrl && previewUrl !== url) URL.revokeObjectURL(previewUrl); previewUrl = url; };
    img.src = url;
  }

  // ---- messages from the show -----------------------------------------------------------------
  const handlers = {
    schema(message) {
      vj.specs = {};
      for (const spec of message.params) vj.specs[spec.name] = spec;
      const key = JSON.stringify([message.params.map((p) => [p.name, p.choices, p.min, p.max]), message.prompts]);
      if (key !== schemaKey) { schemaKey = key; build(message); }
      history(message.history || []);
      values(message.values || {});
      if (message.state) state(message.state);
    },
    values(message) { values(message.values); },
    state(message) { state(message); },
    history(message) { history(message.prompts); },
    pong(message) { if (vj.onpong) vj.onpong(message); },
  };

  function values(update) {
    const now = performance.now();
    for (const [name, value] of Object.entries(update)) {
      vj.values[name] = value;
      if (touched[name] && now - touched[name] < HOLD_MS) continue;
      show(name, value);
    }
  }

  function state(s) {
    vj.state = s;
    if (s.bpm != null) $("bpm").textContent = s.bpm.toFixed(1) + " BPM";
    if (s.song != null) $("song").textContent = s.song;
    if (s.cue != null) $("cue").textContent = s.cue + (s.cue_label ? " · " + s.cue_label : "");
    if (s.style != null) {
      $("style").textContent = s.style;
      if (vj.values.style == null) markStyle(s.style);   // the setlist's style leads: light its pad
    }
    const phase = s.beat_phase == null ? 1 : s.beat_phase;
    $("beat").className = phase < 0.2 ? "on" : "";
  }

  // ---- building the page -------------------------------------------------------------------------
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
    }
    if (text != null) node.textContent = text;
    return node;
  }
  function format(spec, value) {
    if (value == null) return "setlist";
    if (spec.kind === "bool") return value ? "on" : "off";
    if (spec.kind === "int") return String(value) + (spec.unit ? " " + spec.unit : "");
    if (typeof value !== "number") return String(value);
    const digits = Math.abs(spec.max - spec.min) >= 100 ? 0 : Math.abs(spec.max - spec.min) >= 10 ? 1 : 2;
    return value.toFixed(digits) + (spec.unit ? " " + spec.unit : "");
  }

  function build(message) {
    // style pads
    const pads = $("styles");
    pads.replaceChildren();
    const style = vj.specs.style;
    for (const name of (style && style.choices) || []) {
      const pad = el("button", { "data-style": name, type: "button" }, name);
      pad.addEventListener("click", () => { touched.style = performance.now(); send({ t: "set", name: "style", value: name }); markStyle(name); });
      pads.appendChild(pad);
    }
    // the song's prompts
    const list = $("song-prompts");
    list.replaceChildren();
    (message.prompts || []).forEach((text, index) => {
      const chip = el("button", { type: "button", title: text }, text);
      chip.addEventListener("click", () => send({ t: "set", name: "prompt_index", value: index }));
      list.appendChild(chip);
    });
    // a fader or toggle for every other parameter, by group
    const groups = $("groups");
    groups.replaceChildren();
    for (const group of message.groups) {
      const specs = message.params.filter((p) => p.group === group && !p.own);
      if (!specs.length) continue;
      const panel = el("section", { class: "panel", id: "group-" + group });
      panel.appendChild(el("h2", {}, group));
      for (const spec of specs) panel.appendChild(control(spec));
      groups.appendChild(panel);
    }
  }

  function control(spec) {
    const box = el("div", { class: spec.kind === "bool" ? "fader toggle-row" : "fader", "data-name": spec.name });
    if (spec.kind === "bool") {
      const button = el("button", { type: "button", class: "toggle", id: "p-" + spec.name, title: spec.doc }, spec.name);
      button.addEventListener("click", () => {
        touched[spec.name] = performance.now();
        const on = !vj.values[spec.name];
        vj.values[spec.name] = on; show(spec.name, on);
        send({ t: "set", name: spec.name, value: on });
      });
      box.appendChild(button);
      return box;
    }
    const head = el("div", { class: "head" });
    head.appendChild(el("span", { class: "name", title: spec.doc }, spec.name.replace(/_/g, " ")));
    head.appendChild(el("span", { class: "value", id: "v-" + spec.name }));
    const reset = el("button", { type: "button", class: "small", title: "back to the " + (spec.follows_setlist ? "setlist's value" : "default") }, "↺");
    reset.addEventListener("click", () => { delete touched[spec.name]; send({ t: "release", name: spec.name }); });
    head.appendChild(reset);
    box.appendChild(head);
    let input;
    if (spec.kind === "text") {
      input = el("input", { type: "text", id: "p-" + spec.name, maxLength: 1000 });
      input.addEventListener("change", () => send({ t: "set", name: spec.name, value: input.value }));
    } else if (spec.kind === "int" && spec.max - spec.min > 1000) {
      input = el("input", { type: "number", id: "p-" + spec.name, min: spec.min, max: spec.max, step: 1, inputMode: "numeric" });
      input.addEventListener("change", () => { if (input.value !== "") send({ t: "set", name: spec.name, value: Number(input.value) }); });
    } else if (spec.kind === "choice") {
      input = el("input", { type: "range", id: "p-" + spec.name, min: 0, max: Math.max(spec.choices.length - 1, 0), step: 1 });
      input.addEventListener("input", () => sendSoon(spec.name, { t: "set", name: spec.name, value: Number(input.value) }));
    } else {
      const step = spec.kind === "int" ? 1 : (spec.max - spec.min) / 1000;
      input = el("input", { type: "range", id: "p-" + spec.name, min: spec.min, max: spec.max, step: step });
      input.addEventListener("input", () => {
        const value = Number(input.value);
        $("v-" + spec.name).textContent = format(spec, value);
        $("v-" + spec.name).classList.remove("setlist");
        sendSoon(spec.name, { t: "set", name: spec.name, value: value });
      });
    }
    box.appendChild(input);
    return box;
  }

  function markStyle(name) {
    for (const pad of $("styles").children) pad.classList.toggle("on", pad.getAttribute("data-style") === name);
  }

  function show(name, value) {
    const spec = vj.specs[name];
    if (name === "style") { markStyle(value); return; }
    if (name === "prompt") { $("prompt-now").textContent = value || "(the cue's)"; return; }
    if (name === "blackout" || name === "freeze") { $(name).classList.toggle("on", !!value); return; }
    if (!spec) return;
    const input = $("p-" + name);
    if (!input) return;
    if (spec.kind === "bool") { input.classList.toggle("on", !!value); return; }
    const shown = value == null ? spec.default : value;
    if (spec.kind === "choice") {
      input.value = Math.max(spec.choices.indexOf(value), 0);
    } else if (shown != null && input.type !== "text") {
      input.value = shown;
    } else if (input.type === "text") {
      input.value = value || "";
    }
    const label = $("v-" + name);
    if (label) { label.textContent = format(spec, value); label.classList.toggle("setlist", value == null); }
  }

  function history(prompts) {
    const list = $("history");
    list.replaceChildren();
    for (const text of prompts.slice().reverse()) {
      const chip = el("button", { type: "button", title: text }, text);
      chip.addEventListener("click", () => send({ t: "prompt", text: text }));
      list.appendChild(chip);
    }
  }

  // ---- the fixed controls -------------------------------------------------------------------------
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => send({ t: "action", name: button.getAttribute("data-action") }));
  }
  for (const button of document.querySelectorAll("button[data-param]")) {
    button.addEventListener("click", () => {
      const name = button.getAttribute("data-param");
      touched[name] = performance.now();
      const on = !vj.values[name];
      vj.values[name] = on; show(name, on);
      send({ t: "set", name: name, value: on });
    });
  }
  $("prompt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("prompt-text").value.trim();
    if (text) send({ t: "prompt", text: text.slice(0, 1000) });
  });
  $("prompt-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("prompt-form").requestSubmit(); }
  });
  $("prompt-release").addEventListener("click", () => send({ t: "release", name: "prompt" }));
  connect();
})();
