  // Widget part (widget/script.py PARTS): The satisfaction rating, the agent header, system lines,
  // emoji, the reply sound.

  // --- Satisfaction rating, agent header, system lines, emoji, reply sound -------------------
  // Built once after the main UI (buildExtras); each part keeps its state here.

  let ratingChoice = null;    // the rating picked in the card, before it is sent
  let ratingSent = false;     // a conversation.rate frame awaits its answer
  let ratedHere = null;       // the conversation rated from this page: the card says thanks
  let soundCtx = null;        // AudioContext, created by the sound switch (a user gesture)
  const ratingLater = new Set((storageGet("sessionStorage", "rate_later") || "").split(",").filter(Boolean).map(Number));

  const ratingScale = () => (boot && boot.merchant && boot.merchant.rating_scale) || "off";
  const soundOn = () => storageGet("localStorage", "sound") === "1";

  function buildExtras() {
    // The agent's avatar (their initial) and name in the header, once someone has the chat.
    const avatar = el("span", { class: "avatar", "aria-hidden": "true" });
    avatar.hidden = true;
    const header = ui.panel.querySelector("header");
    header.insertBefore(avatar, header.firstChild);
    const sound = el("button", { class: "sound", type: "button", onclick: toggleSound });
    header.insertBefore(sound, header.querySelector(".x"));
    // The rating card, above the message box.
    const rate = el("div", { class: "rate", role: "group", "aria-labelledby": "kefu-rate-title" });
    rate.hidden = true;
    ui.panel.insertBefore(rate, ui.count);
    // The emoji button among the tools above the message box, and its picker above them.
    const emojiButton = el("button", {
      class: "emoji-open", type: "button", "aria-label": S("emoji"), title: S("emoji"),
      "aria-expanded": "false", "aria-controls": "kefu-emoji", text: "☺", onclick: () => toggleEmoji(),
    });
    ui.tools.append(emojiButton);
    const emoji = el("div", { class: "emoji", id: "kefu-emoji", role: "group", "aria-label": S("emoji_list") });
    emoji.hidden = true;
    const chars = Array.isArray(S("emoji_chars")) ? S("emoji_chars") : [];
    const names = Array.isArray(S("emoji_names")) ? S("emoji_names") : [];
    chars.forEach((char, i) => {
      emoji.append(el("button", {
        type: "button", class: "em", "aria-label": names[i] || char, title: names[i] || char, text: char,
        onclick: () => insertEmoji(char),
      }));
    });
    ui.panel.insertBefore(emoji, ui.count);
    Object.assign(ui, { avatar, sound, rate, emoji, emojiButton });
    buildTranscript();
    buildPrechat();
    renderPrechat();
    renderSound();
    renderRating();
  }

  // -- The agent in the header, and the system lines in the thread --

  function renderAgent() {
    if (!ui || !ui.avatar) return;
    const c = convState;
    const name = c && c.id === convId && c.agent_name && (c.status === "open" || c.status === "pending") ? c.agent_name : "";
    ui.avatar.hidden = !name;
    ui.avatar.textContent = name ? [...name.trim()][0].toUpperCase() : "";
    renderTranscriptButton();
    const title = ui.panel.querySelector("header .name");
    title.textContent = name || boot.merchant.name || S("title");
    title.title = name ? `${name} · ${boot.merchant.name || S("title")}` : "";
  }

  // A system line of the thread (the bot handed over, an agent joined, the chat was
  // transferred, the chat ended): a stored message of kind "event" (conversations/
  // system_lines.py), so it has its seq and comes back on a reload, in another tab and after a
  // resume. Drawn from its meta in this widget's language; its body is the server's rendering
  // of the same line, shown for a code this script does not know.
  const SYSTEM_LINES = { handover: "sys_handover", joined: "sys_joined", transferred: "sys_transferred", ended: "sys_ended" };

  function renderSystemLine(m) {
    const meta = m.meta || {};
    const key = SYSTEM_LINES[meta.system];
    const text = key ? SF(key, { agent: String(meta.agent || "") }) : String(m.body || "");
    const li = el("li", { class: "msg sys", role: "note" }, el("div", { class: "sysline", text }));
    li.dataset.kind = "system";
    li.dataset.line = meta.system || "";
    return li;
  }

  // -- Rating --

  function ratingDue() {
    const c = convState;
    return ratingScale() !== "off" && c && convId !== null && c.id === convId
      && c.status === "resolved" && (!c.rated || ratedHere === c.id) && !ratingLater.has(c.id);
  }

  function renderRating() {
    if (!ui || !ui.rate) return;
    const due = ratingDue() && !offlineShown();
    ui.rate.hidden = !due;
    if (!due) { ui.rate.dataset.conv = ""; return; }
    const c = convState;
    const key = `${c.id}:${c.rated ? "rated" : "ask"}`;
    if (ui.rate.dataset.conv === key) return; // drawn already: keep what the visitor typed
    ui.rate.dataset.conv = key;
    ui.rate.replaceChildren();
    if (c.rated) {
      ui.rate.append(el("p", { class: "rate-thanks", role: "status", text: S("rate_thanks") }));
      return;
    }
    ratingChoice = null;
    const stars = ratingScale() === "stars";
    const options = stars
      ? [1, 2, 3, 4, 5].map((n) => ({ value: n, text: "★", label: SF("rate_stars", { n }) }))
      : [[5, "rate_good", "🙂"], [3, "rate_ok", "😐"], [1, "rate_bad", "🙁"]]
        .map(([value, name, face]) => ({ value, text: `${face} ${S(name)}`, label: S(name) }));
    const group = el("div", { class: "rate-options" + (stars ? " stars" : " faces"), role: "radiogroup", "aria-labelledby": "kefu-rate-title" });
    for (const o of options) {
      const b = el("button", { type: "button", role: "radio", "aria-checked": "false", "aria-label": o.label, title: o.label, text: o.text });
      b.dataset.value = o.value;
      b.addEventListener("click", () => chooseRating(o.value));
      b.addEventListener("keydown", (e) => ratingArrow(e, o.value));
      group.append(b);
    }
    const comment = el("textarea", { class: "rate-comment", rows: "2", maxlength: "1000", "aria-label": S("rate_comment"), placeholder: S("rate_comment") });
    const err = el("p", { class: "rate-err", role: "alert" });
    err.hidden = true;
    const actions = el("div", { class: "rate-actions" },
      el("button", { class: "rate-send", type: "button", text: S("rate_submit"), onclick: sendRating }),
      el("button", { class: "link rate-later", type: "button", text: S("rate_later"), onclick: () => {
        ratingLater.add(c.id);
        storageSet("sessionStorage", "rate_later", [...ratingLater].join(","));
        renderRating();
        ui.textarea.focus();
      } }));
    ui.rate.append(el("p", { class: "rate-title", id: "kefu-rate-title", text: S("rate_title") }), group, comment, err, actions);
  }

  function chooseRating(value) {
    ratingChoice = value;
    const stars = ratingScale() === "stars";
    for (const b of ui.rate.querySelectorAll("[role=radio]")) {
      const v = Number(b.dataset.value);
      b.setAttribute("aria-checked", String(v === value));
      b.classList.toggle("on", stars ? v <= value : v === value);
    }
    ui.rate.querySelector(".rate-err").hidden = true;
  }

  // Arrow keys move the choice, as in any radio group.
  function ratingArrow(e, value) {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (!step) return;
    e.preventDefault();
    const buttons = [...ui.rate.querySelectorAll("[role=radio]")];
    const i = buttons.findIndex((b) => Number(b.dataset.value) === value);
    const next = buttons[(i + step + buttons.length) % buttons.length];
    next.focus();
    chooseRating(Number(next.dataset.value));
  }

  function sendRating() {
    const err = ui.rate.querySelector(".rate-err");
    if (ratingChoice === null) {
      err.textContent = S("rate_choose");
      err.hidden = false;
      return;
    }
    if (!socket.ready || ratingSent) return;
    ratingSent = true;
    ratedHere = convState.id;
    ui.rate.querySelector(".rate-send").disabled = true;
    socket.send({ type: "conversation.rate", rating: ratingChoice, comment: ui.rate.querySelector(".rate-comment").value.trim() });
  }

  // An error frame while a rating is on its way is the rating's refusal.
  function ratingRefused(frame) {
    if (!ratingSent) return false;
    ratingSent = false;
    const err = ui.rate.querySelector(".rate-err");
    if (!err) return true;
    ui.rate.querySelector(".rate-send").disabled = false;
    err.textContent = frame.code === "already_rated" ? S("rate_again")
      : (frame.fields && (frame.fields.comment || frame.fields.rating)) || frame.message || S("error");
    err.hidden = false;
    return true;
  }

  function ratingAnswered(c) {
    if (c && c.rated) ratingSent = false;
  }

  // -- Emoji --

  function toggleEmoji(on) {
    const show = on === undefined ? ui.emoji.hidden : on;
    ui.emoji.hidden = !show;
    ui.emojiButton.setAttribute("aria-expanded", String(show));
    if (show) ui.emoji.querySelector("button").focus();
  }

  function insertEmoji(char) {
    const t = ui.textarea;
    const start = t.selectionStart ?? t.value.length;
    const end = t.selectionEnd ?? t.value.length;
    t.value = t.value.slice(0, start) + char + t.value.slice(end);
    t.selectionStart = t.selectionEnd = start + char.length;
    toggleEmoji(false);
    t.focus();
    t.dispatchEvent(new Event("input")); // the counter and the live draft
  }

  // -- Reply sound: two short tones (no sound file) while the tab is hidden, if switched on --

  function toggleSound() {
    storageSet("localStorage", "sound", soundOn() ? null : "1");
    // Browsers let a page play sound only after a user gesture: this click is one.
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (soundOn() && !soundCtx && Ctx) soundCtx = new Ctx();
    if (soundCtx && soundCtx.state === "suspended") soundCtx.resume();
    renderSound();
  }

  function renderSound() {
    const on = soundOn();
    ui.sound.setAttribute("aria-pressed", String(on));
    ui.sound.setAttribute("aria-label", S(on ? "sound_on" : "sound_off"));
    ui.sound.title = S(on ? "sound_on" : "sound_off");
    ui.sound.replaceChildren(bellIcon(on));
  }

  // A bell, struck through when off: drawn here, so it looks the same without an emoji font.
  function bellIcon(on) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const paths = ["M6 17V11a6 6 0 0 1 12 0v6l1.5 2h-15z", "M10 21h4"];
    if (!on) paths.push("M4 4l16 16");
    for (const d of paths) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  function chime() {
    if (!soundOn() || document.visibilityState !== "hidden") return;
    if (!soundCtx) {
      // Switched on in an earlier page view: try; a browser without a gesture here stays quiet.
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      soundCtx = new Ctx();
    }
    window.KefuChimes = (window.KefuChimes || 0) + 1; // for tests: a chime was played
    const start = soundCtx.currentTime;
    [660, 880].forEach((hz, i) => {
      const osc = soundCtx.createOscillator();
      const gain = soundCtx.createGain();
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, start + i * 0.15);
      gain.gain.exponentialRampToValueAtTime(0.15, start + i * 0.15 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.15 + 0.14);
      osc.connect(gain).connect(soundCtx.destination);
      osc.start(start + i * 0.15);
      osc.stop(start + i * 0.15 + 0.15);
    });
  }

