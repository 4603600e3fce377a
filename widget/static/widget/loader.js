/* Mozhongkefu chat widget: the one script a merchant embeds.

     <script src="https://HOST/widget/loader.js" data-merchant="WIDGET_KEY" async></script>

   Optional signed identity of the merchant's logged-in user (see the bootstrap view):
   data-user-id, data-user-hash, data-user-name, data-user-email.
   Optional data-team="TEAM_ID": route new conversations to that team (otherwise, when the
   merchant has teams, the visitor picks one before the first message).

   The UI lives in a Shadow DOM root, so the host page's CSS cannot break it and ours cannot
   leak out. Every piece of visitor or agent text goes through textContent, never markup.
   The wire protocol is conversations/protocol.py (docs/protocol.md).

   The socket itself (createSocket, SeqMap, insertOrdered, backoff) is the core shared with the
   workspace, conversations/static/realtime/socket.js: the loader view serves this file inside
   the same function scope as the core (widget/script.py), so this file alone does not run. */
(() => {
  "use strict";

  const SUFFIX = "/widget/loader.js";
  const OUTBOX_LIMIT = 50;
  const TYPING_EVERY_MS = 500;    // the visitor's draft goes out at most twice a second
  const AGENT_TYPING_MS = 6000;   // "agent is typing" fades without a refresh
  const TITLE_POLL_MS = 1500;     // single-page sites change document.title without an event
  const CLIENT_MSG_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
  const COUNT_FROM = 0.8;         // the character counter shows from 80% of the length limit
  const TITLE_FLASH_MS = 1200;    // new reply while the tab is hidden: the title alternates
  // Link targets made clickable in messages; anything else stays text.
  // A link ends at a space, a quote or angle bracket, or Chinese text and punctuation (Chinese
  // writers put no space after a URL: "见https://x.cn/a。谢谢").
  const LINK = /\b(?:https?:\/\/|mailto:)[^\s<>"'`\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+/gi;
  const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);
  // Punctuation that ends a sentence rather than a URL ("see https://x.cn/a." or "（https://x.cn）").
  const LINK_TRAILING = /[.,;:!?'")\]}，。；：！？、）】》」』]+$/;

  if (window.Kefu && window.Kefu.loaded) return; // pasted twice: keep one widget

  function findScript() {
    const current = document.currentScript;
    if (current && current.dataset.merchant) return current;
    for (const s of document.querySelectorAll("script[data-merchant]")) {
      if (s.src.split(/[?#]/)[0].endsWith(SUFFIX)) return s;
    }
    return null;
  }

  const script = findScript();
  if (!script) {
    console.error("[kefu] loader.js: no <script src=\".../widget/loader.js\" data-merchant=\"KEY\"> tag found");
    return;
  }
  const KEY = script.dataset.merchant;
  const HOST = new URL(script.src, location.href).origin;
  const WS_HOST = HOST.replace(/^http/, "ws");

  // --- Small helpers ------------------------------------------------------------------------

  const storeKey = (name) => `kefu:${KEY}:${name}`;
  // Storage can be missing or throw (privacy modes, sandboxed frames): the widget still works,
  // the visitor is just new on every page load.
  function storageGet(area, name) {
    try { return window[area].getItem(storeKey(name)); } catch (e) { return null; }
  }
  function storageSet(area, name, value) {
    try {
      if (value === null) window[area].removeItem(storeKey(name));
      else window[area].setItem(storeKey(name), value);
    } catch (e) { /* see storageGet */ }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function randomId() {
    // getRandomValues works on plain-http merchant sites too (randomUUID needs https).
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child) node.append(child); // strings become text nodes
    return node;
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.append(path);
    return svg;
  }

  function timeText(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function dateTimeText(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  // Message text with http(s) and mailto links made clickable. Built from text nodes and <a>
  // elements whose href went through URL parsing: no markup from the message ever reaches the
  // DOM, and javascript:, data: and the like stay text.
  function linkified(text) {
    const out = document.createDocumentFragment();
    let last = 0;
    for (const match of String(text).matchAll(LINK)) {
      const raw = match[0].replace(LINK_TRAILING, "");
      let url = null;
      try { url = new URL(raw); } catch (e) { /* not a URL after all: text */ }
      if (!url || !LINK_SCHEMES.has(url.protocol) || (url.protocol !== "mailto:" && !url.hostname)) continue;
      out.append(text.slice(last, match.index));
      out.append(el("a", { href: url.href, target: "_blank", rel: "noopener noreferrer nofollow", text: raw }));
      last = match.index + raw.length;
    }
    out.append(text.slice(last));
    return out;
  }

  // --- Bootstrap: widget key + anonymous id -> signed visitor token -------------------------

  class BootError extends Error {
    constructor(message, retry, waitMs) { super(message); this.retry = retry; this.waitMs = waitMs; }
  }

  function identityFromScript() {
    const d = script.dataset;
    if (!d.userId || !d.userHash) return null;
    const identity = { id: d.userId, hash: d.userHash };
    if (d.userName) identity.name = d.userName;
    if (d.userEmail) identity.email = d.userEmail;
    if (d.userPhone) identity.phone = d.userPhone;
    // data-user-attributes (a JSON object of custom attributes, {"plan": "pro"}) goes as the
    // page has it: the merchant's signature covers exactly these characters.
    if (d.userAttributes) identity.attributes_raw = d.userAttributes;
    if (d.userExpires && /^\d+$/.test(d.userExpires)) identity.expires = Number(d.userExpires);
    return identity;
  }

  let identityRefused = false; // a bad identity hash: go on as an anonymous visitor

  // A fetch that fails with a TypeError is either the network or a CORS refusal, which the
  // browser hides from scripts. If the server answers a no-cors request for this very script,
  // it is up: the refusal was this site's origin, and retrying will not change that.
  async function originRefused() {
    try {
      await fetch(script.src, { mode: "no-cors", credentials: "omit", cache: "no-store" });
      return true;
    } catch (e) {
      return false;
    }
  }

  async function bootstrap() {
    const payload = { page_url: location.href.slice(0, 2000), page_title: pageTitle().slice(0, 500) };
    const anon = storageGet("localStorage", "anon");
    if (anon) payload.anonymous_id = anon;
    // Where the visitor came from and their language, for the agent's customer profile.
    if (document.referrer) payload.referrer = document.referrer.slice(0, 2000);
    if (navigator.language) payload.language = navigator.language.slice(0, 35);
    const identity = identityRefused ? null : identityFromScript();
    if (identity) payload.identity = identity;
    let response;
    try {
      response = await fetch(`${HOST}/widget/api/bootstrap?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        // text/plain keeps this a "simple" CORS request: no preflight round trip on every page
        // view. The server parses the body as JSON whatever the content type says.
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: JSON.stringify(payload),
        credentials: "omit",
      });
    } catch (e) {
      // A refused cross-origin request looks exactly like a network failure from here.
      if (location.origin !== HOST && await originRefused()) {
        throw new BootError(
          `this site's origin (${location.origin}) is not allowed for widget key ${KEY}: ` +
          `add it to the merchant's allowed origins (the browser's CORS error above is this refusal)`,
          false,
        );
      }
      throw new BootError(
        `cannot reach ${HOST}, or this site's origin (${location.origin}) is not allowed for widget key ${KEY}`,
        true,
      );
    }
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON: described below */ }
    if (response.ok) return data;
    if (response.status === 400 && identity && data.errors && data.errors.identity) {
      // The page's signed identity does not check out (a wrong secret, a stale hash): the
      // visitor can still chat, as an anonymous one; the site owner learns why here.
      const expired = data.errors.identity.includes("expired");
      console.warn(`[kefu] data-user-hash ${expired ? "has expired (data-user-expires)" : `does not match data-user-id "${identity.id}"`} for widget key ${KEY}: ` +
        "continuing as an anonymous visitor (compute the hash with the merchant's identity secret)");
      identityRefused = true;
      return bootstrap();
    }
    if (response.status === 400 && data.errors && data.errors.anonymous_id && anon) {
      storageSet("localStorage", "anon", null); // a damaged stored id: start as a new visitor
      return bootstrap();
    }
    // 429: too many page loads from this address; the server says when to come back.
    const retryAfter = Number(response.headers.get("Retry-After")) || 0;
    throw new BootError(
      `bootstrap refused (HTTP ${response.status} ${data.code || ""}): ${data.detail || response.statusText}`,
      response.status >= 500 || response.status === 429,
      retryAfter * 1000,
    );
  }

  // --- State --------------------------------------------------------------------------------

  let boot = null;            // the bootstrap answer: token, ws_path, merchant, strings, ...
  let ui = null;              // DOM nodes, built after the first bootstrap
  let convId = null;          // the visitor's current conversation
  let authConvId = null;      // convId when `auth` was sent (its last_seq belongs to it)
  let authLastSeq = 0;
  let isOpen = false;
  let wantOpen = storageGet("sessionStorage", "open") === "1";
  let unread = 0;
  let lastReadSent = 0;
  let typingSent = "";        // the draft last sent on this socket
  let typingAt = 0;
  let typingTimer = null;
  let agentTypingTimer = null;
  let pageSent = "";          // "url\ntitle" last reported on this socket
  let convState = null;       // VisitorConversationOut: queue place, wait, bot_active
  let handoverAsked = false;  // "talk to a human" pressed; cleared by the next state
  let agentReplied = null;    // the conversation in which an agent has written
  // The team for a new conversation: the embed's data-team, or the visitor's pre-chat choice.
  let team = /^[1-9][0-9]*$/.test(script.dataset.team || "") ? Number(script.dataset.team)
    : Number(storageGet("sessionStorage", "team")) || null;
  const agentRead = new Map(); // conversation id -> highest seq an agent has read
  const shown = new Map();    // conversation id -> SeqMap of seq -> <li> of each stored message

  const shownIn = (conversationId) => {
    if (!shown.has(conversationId)) shown.set(conversationId, new SeqMap());
    return shown.get(conversationId);
  };
  const allShown = () => [...shown.values()].flatMap((seqs) => [...seqs.values()]);
  // UI text comes translated from the bootstrap; these English defaults cover a server older
  // than this script.
  const DEFAULT_STRINGS = {
    attach: "Attach a file or image",
    drop: "Drop files here to send them",
    uploading: "Uploading…",
    upload_failed: "Upload failed. Tap to retry.",
    too_large: "The file is larger than %(mb)s MB.",
    dismiss: "Tap to remove.",
    open_image: "Open full size",
    download: "Download",
    bot: "Bot",
    handover: "Talk to a human",
    handover_sent: "Connecting you to an agent…",
    queue_ahead: "Visitors ahead of you: %(ahead)s",
    queue_ahead_wait: "Visitors ahead of you: %(ahead)s, estimated wait %(minutes)s min",
    queue_next: "You are next in line",
    team_choose: "What can we help you with?",
    team_required: "Please choose a topic first.",
    offline_intro: "No agent is available right now. Leave a message and we will get back to you.",
    offline_closed: "We are closed right now. Leave a message and we will get back to you.",
    offline_next: "We are back %(when)s.",
    offline_name: "Your name",
    offline_contact: "Phone or email",
    offline_message: "Message",
    offline_submit: "Leave a message",
    offline_sending: "Sending…",
    offline_chat: "Back to the chat",
    offline_form: "Leave a message instead",
    status_online: "We are online: an agent will answer you here.",
    status_away: "Our agents are away right now; we will reply as soon as we can.",
    status_offline: "No agent is online right now.",
    status_closed: "We are closed right now.",
    blocked: "This chat is closed. Thank you for your visit.",
    status_served: "An agent is with you.",
    status_leave: "Leave us a message",
    count: "%(count)s / %(max)s",
    count_over: "%(count)s / %(max)s: %(over)s characters too many. Shorten the message to send it.",
    title_new: "New message",
  };
  const S = (name) => (boot && boot.strings && boot.strings[name]) || DEFAULT_STRINGS[name] || name;
  // "%(name)s" placeholders, as in the server's translations.
  const SF = (name, values) => S(name).replace(/%\((\w+)\)s/g, (all, k) => (k in values ? String(values[k]) : all));
  const availability = () => (boot && boot.availability) || {};

  function lastSeq(conversationId, agentOnly) {
    const seqs = shownIn(conversationId);
    if (!agentOnly) return seqs.max;
    let max = 0;
    for (const [seq, li] of seqs) if (!li.classList.contains("mine")) max = Math.max(max, seq);
    return max;
  }

  // The outbox (socket.outbox: client_msg_id -> {frame, body, li, failed, t, team}) is mirrored
  // in localStorage, so what was typed while offline survives a reload and goes out afterwards
  // with the same client_msg_id (the server stores it at most once). Stored, it is one JSON
  // object {client_msg_id: {body, t, failed, team}} shared by the visitor's tabs; each change
  // re-reads it so that tabs do not overwrite each other's entries.
  function outboxStored() {
    try {
      const saved = JSON.parse(storageGet("localStorage", "outbox") || "{}");
      return saved && typeof saved === "object" && !Array.isArray(saved) ? saved : {};
    } catch (e) {
      return {}; // damaged: start empty rather than break the widget
    }
  }

  function outboxPersist(id, entry) {
    const saved = outboxStored();
    if (entry) saved[id] = { body: entry.body, t: entry.t, failed: entry.failed, team: entry.team, att: entry.att };
    else delete saved[id];
    storageSet("localStorage", "outbox", Object.keys(saved).length ? JSON.stringify(saved) : null);
  }

  // --- UI -----------------------------------------------------------------------------------

  const CSS = `
    :host { all: initial; }
    .kf { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; color: #1f2328;
      font: 14px/1.45 system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; }
    [hidden] { display: none !important; }
    button { font: inherit; }
    .launcher { position: relative; width: 56px; height: 56px; border: 0; border-radius: 50%;
      background: #2563eb; color: #fff; cursor: pointer; display: flex; align-items: center;
      justify-content: center; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .launcher:hover { background: #1d4ed8; }
    .launcher svg { width: 26px; height: 26px; fill: currentColor; }
    .badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px;
      padding: 0 6px; box-sizing: border-box; border-radius: 10px; background: #dc2626;
      color: #fff; font-size: 12px; line-height: 20px; text-align: center; }
    .panel { position: absolute; right: 0; bottom: 72px; width: 360px; height: 520px;
      max-width: calc(100vw - 40px); max-height: calc(100vh - 110px); background: #fff;
      border-radius: 12px; box-shadow: 0 10px 40px rgba(0,0,0,.25); display: flex;
      flex-direction: column; overflow: hidden; }
    header { background: #2563eb; color: #fff; padding: 12px 14px; display: flex;
      align-items: center; gap: 8px; }
    header .name { flex: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis;
      white-space: nowrap; }
    header .x { background: none; border: 0; color: inherit; font-size: 22px; line-height: 1;
      cursor: pointer; padding: 0 4px; }
    /* The one status line (renderStatus): connection, queue, agent, or availability. */
    .status { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; font-size: 12.5px;
      padding: 6px 14px; background: #f8fafc; color: #334155; border-bottom: 1px solid #e5e7eb; }
    .status .dot { width: 8px; height: 8px; border-radius: 50%; background: #94a3b8; flex: none; }
    .status[data-state=online] .dot, .status[data-state=served] .dot { background: #16a34a; }
    .status[data-state=away] .dot { background: #d97706; }
    .status[data-state=queued] { background: #eff6ff; color: #1e40af; }
    .status[data-state=queued] .dot { background: #2563eb; }
    .status.conn { background: #fef3c7; color: #92400e; }
    .status.conn .dot { background: #d97706; }
    .status .status-text { flex: 1 1 auto; min-width: 0; }
    .status .link { font-size: 12.5px; color: #1d4ed8; }
    .list { flex: 1; overflow-y: auto; margin: 0; padding: 12px; list-style: none;
      background: #f6f7f9; }
    .msg { display: flex; flex-direction: column; align-items: flex-start; margin: 8px 0; }
    .msg.mine { align-items: flex-end; }
    .meta { font-size: 11px; color: #6b7280; margin: 0 4px 2px; }
    .tick { margin-left: 6px; color: #2563eb; }
    .typing { font-size: 12px; color: #6b7280; padding: 2px 14px 4px; background: #f6f7f9;
      font-style: italic; }
    .bubble { max-width: 80%; padding: 8px 11px; border-radius: 12px; background: #fff;
      border: 1px solid #e5e7eb; white-space: pre-wrap; overflow-wrap: anywhere; }
    .mine .bubble { background: #2563eb; border-color: #2563eb; color: #fff; }
    .welcome .bubble { background: #eef2ff; border-color: #c7d2fe; }
    .pending .bubble { opacity: .6; }
    .failed .bubble { background: #fee2e2; border-color: #fca5a5; color: #991b1b; cursor: pointer; }
    .err { font-size: 11px; color: #b91c1c; margin: 2px 4px 0; }
    .count { font-size: 12px; color: #4b5563; padding: 4px 12px 0; background: #fff;
      border-top: 1px solid #e5e7eb; text-align: right; }
    .count:not([hidden]) + form { border-top: 0; }
    .count.over { color: #b91c1c; font-weight: 600; }
    form button:disabled { background: #9ca3af; cursor: not-allowed; }
    .bubble a { color: inherit; text-decoration: underline; }
    form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }
    textarea { flex: 1; height: 42px; resize: none; box-sizing: border-box; padding: 9px 10px;
      border: 1px solid #d1d5db; border-radius: 8px; font: inherit; color: inherit; }
    textarea:focus { outline: 2px solid #93c5fd; border-color: #2563eb; }
    form button { border: 0; border-radius: 8px; background: #2563eb; color: #fff;
      padding: 0 16px; cursor: pointer; }
    .bot .bubble { background: #f5f3ff; border-color: #ddd6fe; }
    .choices { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; max-width: 90%; }
    .choice, .team, .handover, .link { border: 1px solid #2563eb; background: #fff; color: #2563eb;
      border-radius: 14px; padding: 3px 12px; cursor: pointer; font-size: 13px; }
    .choice:hover, .team:hover, .handover:hover { background: #eff6ff; }
    .choice:disabled { opacity: .5; cursor: default; }
    .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 6px 10px;
      border-top: 1px solid #e5e7eb; background: #fff; font-size: 13px; }
    .bar .label { width: 100%; color: #374151; }
    .team.chosen { background: #2563eb; color: #fff; }
    .bar.attention .label { color: #b91c1c; }
    .closed { margin: 0; padding: 14px 16px; border-top: 1px solid #e5e7eb; color: #4b5563; text-align: center; font-size: 14px; }
    .offline { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column;
      gap: 8px; border-top: 0; background: #fff; }
    .offline p { margin: 0; }
    .offline form { flex-direction: column; padding: 0; border: 0; }
    .offline label { display: flex; flex-direction: column; gap: 3px; font-size: 13px;
      color: #374151; }
    .offline input, .offline textarea { font: inherit; padding: 7px 9px; border: 1px solid #d1d5db;
      border-radius: 8px; height: auto; flex: none; }
    .offline textarea { min-height: 90px; resize: vertical; }
    .offline .invalid { border-color: #dc2626; }
    .offline .ferr { color: #b91c1c; font-size: 12px; }
    .offline .submit { border: 0; border-radius: 8px; background: #2563eb; color: #fff;
      padding: 8px 16px; cursor: pointer; align-self: flex-start; }
    .offline .done { background: #ecfdf5; border: 1px solid #a7f3d0; color: #065f46;
      padding: 10px 12px; border-radius: 8px; white-space: pre-wrap; }
    .link { border: 0; padding: 0; background: none; text-decoration: underline;
      align-self: flex-start; border-radius: 0; }
    /* Attachments: the clip button, uploads in progress, thumbnails, file cards, the viewer. */
    .attach { flex: none; width: 42px; border: 1px solid #d1d5db; border-radius: 8px;
      background: #fff; color: #374151; cursor: pointer; display: flex; align-items: center;
      justify-content: center; padding: 0; }
    .attach:hover { background: #f3f4f6; }
    .attach svg { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2;
      stroke-linecap: round; stroke-linejoin: round; }
    .panel.dropping::after { content: attr(data-drop); position: absolute; inset: 8px;
      border: 2px dashed #2563eb; border-radius: 10px; background: rgba(239,246,255,.92);
      color: #1e40af; display: flex; align-items: center; justify-content: center;
      font-weight: 600; pointer-events: none; }
    .bubble.has-att { padding: 4px; white-space: normal; }
    .bubble .cap { display: block; padding: 4px 7px 3px; white-space: pre-wrap; }
    .thumb { display: block; border: 0; padding: 0; background: #e5e7eb; border-radius: 9px;
      cursor: zoom-in; overflow: hidden; max-width: 220px; }
    .thumb img { display: block; max-width: 220px; max-height: 220px; width: auto; height: auto; }
    .bubble a.file { display: flex; align-items: center; gap: 9px; padding: 7px 9px; min-width: 180px;
      max-width: 240px; color: inherit; text-decoration: none; border-radius: 9px; }
    .bubble a.file:hover .fname { text-decoration: underline; }
    .mine .file { color: #fff; }
    .file .icon { flex: none; width: 34px; height: 40px; border-radius: 5px; background: #dbeafe;
      color: #1e40af; font-size: 10px; font-weight: 700; display: flex; align-items: center;
      justify-content: center; text-transform: uppercase; }
    .file .fname { display: block; font-weight: 600; overflow-wrap: anywhere; line-height: 1.3; }
    .file .fsize { display: block; font-size: 11.5px; opacity: .8; }
    .progress { height: 4px; margin: 5px 7px 3px; background: rgba(0,0,0,.12); border-radius: 2px;
      overflow: hidden; }
    .progress span { display: block; height: 100%; width: 0; background: #16a34a;
      transition: width .15s; }
    .mine .progress { background: rgba(255,255,255,.35); }
    .mine .progress span { background: #fff; }
    .viewer { position: absolute; inset: 0; background: rgba(15,23,42,.92); display: flex;
      flex-direction: column; z-index: 2; }
    .viewer .vbar { display: flex; gap: 10px; align-items: center; padding: 10px 12px; color: #fff; }
    .viewer .vname { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .viewer a, .viewer button { color: #fff; background: none; border: 0; cursor: pointer;
      font-size: 13px; }
    .viewer .x { font-size: 24px; line-height: 1; }
    .viewer .vimg { flex: 1; display: flex; align-items: center; justify-content: center;
      min-height: 0; padding: 8px; }
    .viewer img { max-width: 100%; max-height: 100%; object-fit: contain; }
    /* Rating card, agent avatar, system lines, emoji picker, sound switch (buildExtras).
       Colours measured against their backgrounds in docs/widget.md (WCAG AA). */
    header .avatar { width: 30px; height: 30px; flex: none; border-radius: 50%; background: #fff;
      color: #1e40af; font-weight: 700; display: flex; align-items: center; justify-content: center; }
    header .sound { background: none; border: 0; color: inherit; cursor: pointer; padding: 4px;
      border-radius: 6px; display: flex; }
    header .mail { background: none; border: 0; color: inherit; cursor: pointer; padding: 4px;
      border-radius: 6px; display: flex; }
    header .mail svg { width: 20px; height: 20px; fill: none; stroke: currentColor;
      stroke-width: 1.8; stroke-linejoin: round; }
    .prechat { display: flex; flex-direction: column; gap: 8px; padding: 12px 14px;
      border-top: 1px solid #e5e7eb; background: #fff; overflow-y: auto; max-height: 70%; }
    .prechat p { margin: 0; }
    .prechat .pc-title { font-weight: 600; }
    .prechat label { display: flex; flex-direction: column; gap: 3px; font-size: 13px; color: #374151; }
    .prechat .opt { color: #4b5563; font-weight: 400; }
    .prechat .req { color: #b91c1c; }
    .prechat input { font: inherit; padding: 7px 9px; border: 1px solid #6b7280; border-radius: 8px;
      color: inherit; }
    .prechat input:focus, .tr-row input:focus { outline: 2px solid #93c5fd; border-color: #2563eb; }
    .prechat input.invalid { border-color: #b91c1c; }
    .prechat .ferr { color: #b91c1c; font-size: 12px; }
    .prechat .submit { border: 0; border-radius: 8px; background: #2563eb; color: #fff;
      padding: 9px 16px; cursor: pointer; align-self: stretch; }
    @media (max-width: 480px) {
      .prechat input, .tr-row input, .rate textarea { font-size: 16px; } /* no zoom on focus */
    }
    .transcript { display: flex; flex-direction: column; gap: 6px; padding: 10px 12px;
      border-top: 0; border-bottom: 1px solid #e5e7eb; background: #fff; }
    .transcript p { margin: 0; }
    .tr-label { font-size: 13px; font-weight: 600; }
    .tr-row { display: flex; gap: 8px; }
    .tr-row input { flex: 1; min-width: 0; font: inherit; padding: 7px 9px; border: 1px solid #6b7280;
      border-radius: 8px; color: inherit; }
    .tr-row input.invalid { border-color: #b91c1c; }
    .tr-send { border: 0; font: inherit; border-radius: 8px; background: #2563eb; color: #fff; padding: 0 14px;
      cursor: pointer; }
    .tr-msg { margin: 0; font-size: 12.5px; color: #065f46; }
    .tr-msg.bad { color: #b91c1c; }
    header .sound svg { width: 20px; height: 20px; fill: none; stroke: currentColor;
      stroke-width: 1.8; stroke-linecap: round; stroke-linejoin: round; }
    header button:focus-visible { outline: 2px solid #fff; outline-offset: 1px; }
    .sys { align-items: center; }
    .sysline { font-size: 12px; color: #4b5563; background: #eceef2; border-radius: 10px;
      padding: 3px 10px; max-width: 90%; text-align: center; }
    .rate { padding: 10px 12px; border-top: 1px solid #e5e7eb; background: #fff; display: flex;
      flex-direction: column; gap: 8px; }
    .rate p { margin: 0; }
    .rate-title { font-weight: 600; }
    .rate-options { display: flex; gap: 6px; flex-wrap: wrap; }
    .rate-options button { cursor: pointer; font: inherit; -webkit-tap-highlight-color: transparent; }
    .rate-options.stars button { border: 0; background: none; color: #6b7280; font-size: 28px;
      line-height: 1; padding: 2px 3px; }
    .rate-options.stars button.on { color: #d97706; }
    .rate-options.stars button:hover { color: #d97706; }
    .rate-options.faces button { border: 1px solid #2563eb; background: #fff; color: #1d4ed8;
      border-radius: 16px; padding: 4px 12px; }
    .rate-options.faces button.on { background: #2563eb; color: #fff; }
    .rate-options button:focus-visible, .em:focus-visible, form .emoji-open:focus-visible,
    .rate-send:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
    .rate textarea { flex: none; height: auto; min-height: 52px; width: 100%; resize: vertical; }
    .rate-err { color: #b91c1c; font-size: 12.5px; }
    .rate-actions { display: flex; align-items: center; gap: 14px; }
    .rate-send { border: 0; border-radius: 8px; background: #2563eb; color: #fff; padding: 7px 16px;
      cursor: pointer; }
    .rate-send:disabled { background: #6b7280; }
    .rate-actions .link { align-self: center; color: #1d4ed8; }
    .rate-thanks { color: #065f46; background: #ecfdf5; border: 1px solid #a7f3d0; border-radius: 8px;
      padding: 8px 10px; }
    form .emoji-open { background: #fff; color: #374151; border: 1px solid #d1d5db; padding: 0 9px;
      font-size: 20px; line-height: 1; }
    form .emoji-open[aria-expanded=true] { background: #eff6ff; border-color: #2563eb; }
    .emoji { display: grid; grid-template-columns: repeat(8, 1fr); gap: 2px; padding: 8px;
      border-top: 1px solid #e5e7eb; background: #fff; }
    .em, .rate-options.faces button { font-family: "Apple Color Emoji", "Segoe UI Emoji",
      "Noto Color Emoji", system-ui, sans-serif; }
    .em { border: 0; background: none; font-size: 22px; line-height: 1; padding: 6px 0;
      border-radius: 6px; cursor: pointer; }
    .em:hover { background: #eff6ff; }
    @media (max-width: 480px) {
      .panel { position: fixed; inset: 0; width: auto; height: auto; max-width: none;
        max-height: none; border-radius: 0; }
      /* The panel fills the screen and has its own close button; a launcher left on top of it
         would sit over the Send button, and a tap on Send would close the chat. */
      .kf.open .launcher { display: none; }
      /* 16px: phone browsers zoom the page into a smaller text box on focus. */
      textarea { font-size: 16px; }
      /* Clear of the home indicator and rounded corners of notched phones. */
      form { padding-bottom: max(10px, env(safe-area-inset-bottom)); }
      header { padding-top: max(12px, env(safe-area-inset-top)); }
    }`;

  function buildUi() {
    const host = el("div", { id: "kefu-widget", "data-kefu": KEY });
    const root = host.attachShadow({ mode: "open" });
    const list = el("ol", { class: "list", "aria-live": "polite" });
    // No maxlength: the browser would cut a long paste silently. The counter warns instead, and
    // a message over the limit is kept in the box, not sent (see draftLength).
    const textarea = el("textarea", {
      rows: "1", placeholder: S("placeholder"), "aria-label": S("placeholder"),
      "aria-describedby": "kefu-count",
    });
    const count = el("div", { class: "count", id: "kefu-count", "aria-live": "polite" });
    count.hidden = true;
    const fileInput = el("input", { type: "file", multiple: "", hidden: "", accept: acceptList() });
    const attach = el("button", {
      class: "attach", type: "button", "aria-label": S("attach"), title: S("attach"),
      onclick: () => fileInput.click(),
    }, clipIcon());
    attach.hidden = !attachmentsOn();
    const form = el("form", {}, attach, fileInput, textarea, el("button", { class: "send", type: "submit", text: S("send") }));
    const status = el("div", { class: "status", role: "status", "aria-live": "polite" },
      el("span", { class: "dot", "aria-hidden": "true" }),
      el("span", { class: "status-text" }),
      el("button", { class: "link to-offline", type: "button", text: S("status_leave"), onclick: () => showOffline(true) }));
    const typing = el("div", { class: "typing", "aria-live": "polite", text: S("typing") });
    typing.hidden = true;
    const handover = el("div", { class: "bar handover-bar" },
      el("button", { class: "handover", type: "button", text: S("handover"), onclick: askHuman }));
    handover.hidden = true;
    const teams = buildTeamChooser();
    const panel = el(
      "div", { class: "panel", role: "dialog", "aria-label": S("title") },
      el("header", {},
        el("span", { class: "name", text: boot.merchant.name || S("title") }),
        el("button", { class: "x", type: "button", "aria-label": S("close"), title: S("close"), text: "×", onclick: close }),
      ),
      status, list, typing, teams, handover, count, form,
    );
    panel.hidden = true;
    const badge = el("span", { class: "badge" });
    badge.hidden = true;
    const launcher = el(
      "button", { class: "launcher", type: "button", "aria-label": S("open"), title: S("open"), onclick: toggle },
      chatIcon(), badge,
    );
    const kf = el("div", { class: "kf" }, panel, launcher);
    // A constructed stylesheet is not inline style for the host page's Content-Security-Policy,
    // so the widget looks right on sites whose style-src forbids 'unsafe-inline'.
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
      root.append(kf);
    } else {
      root.append(el("style", { text: CSS }), kf);
    }

    if (boot.merchant.welcome_message) {
      list.append(el("li", { class: "msg welcome" }, el("div", { class: "bubble", text: boot.merchant.welcome_message })));
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    panel.addEventListener("keydown", panelKeydown);
    fileInput.addEventListener("change", () => { sendFiles([...fileInput.files]); fileInput.value = ""; });
    // A screenshot pasted into the box, and files dropped anywhere on the panel, are sent too.
    textarea.addEventListener("paste", (e) => {
      const files = [...((e.clipboardData && e.clipboardData.files) || [])];
      if (files.length && attachmentsOn()) { e.preventDefault(); sendFiles(files); }
    });
    panel.dataset.drop = S("drop");
    let dragDepth = 0;
    const dragging = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files") && attachmentsOn();
    panel.addEventListener("dragenter", (e) => { if (dragging(e)) { dragDepth++; panel.classList.add("dropping"); } });
    panel.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; panel.classList.remove("dropping"); } });
    panel.addEventListener("dragover", (e) => { if (dragging(e)) e.preventDefault(); });
    panel.addEventListener("drop", (e) => {
      dragDepth = 0;
      panel.classList.remove("dropping");
      if (!dragging(e)) return;
      e.preventDefault();
      sendFiles([...e.dataTransfer.files]);
    });
    textarea.addEventListener("input", () => { renderCount(); draftChanged(); });
    textarea.addEventListener("keydown", (e) => {
      // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition (how
      // Chinese is typed) must not send half a sentence.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    document.body.append(host);
    ui = { host, root: kf, shadow: root, panel, list, textarea, count, status, badge, launcher, typing, handover, teams, form, offline: null };
    buildExtras();
    // Outside business hours nobody will answer soon: the form comes first (the chat stays one
    // click away).
    if (availability().offline_form && availability().open === false) showOffline(true);
    renderTeams();
    if (wantOpen) open();
  }

  // --- Team choice, queue place, bot hand-over ---------------------------------------------

  // A pre-chat choice, only before the first message and only when the embed names no team.
  function buildTeamChooser() {
    const choices = (availability().teams || []).map((t) => {
      const button = el("button", { class: "team", type: "button", text: t.name, onclick: () => chooseTeam(t.id) });
      button.dataset.team = t.id;
      return button;
    });
    return el("div", { class: "bar teams", role: "group", "aria-label": S("team_choose") },
      el("span", { class: "label", text: S("team_choose") }), ...choices);
  }

  function chooseTeam(id) {
    team = id;
    storageSet("sessionStorage", "team", String(id));
    ui.teams.classList.remove("attention");
    renderTeams();
    ui.textarea.focus();
  }

  const needTeam = () => !script.dataset.team && (availability().teams || []).length > 0 && convId === null;

  function renderTeams() {
    if (!ui) return;
    const known = (availability().teams || []).some((t) => t.id === team);
    if (!known && !script.dataset.team) team = null; // a team since deleted
    ui.teams.hidden = !needTeam() || offlineShown();
    for (const b of ui.teams.querySelectorAll(".team")) b.classList.toggle("chosen", Number(b.dataset.team) === team);
  }

  // The queue place and estimated wait from `conversation.state` (or session.ready).
  // (The thread's lines about state changes are stored messages: renderSystemLine.)
  function conversationState(conversation) {
    if (!conversation || (convId !== null && conversation.id < convId)) return;
    if (convId === null) convId = conversation.id;
    convState = conversation;
    handoverAsked = false;
    ratingAnswered(conversation);
    renderConversationState();
  }

  function renderConversationState() {
    if (!ui) return;
    const c = convState;
    ui.handover.hidden = !(c && c.bot_active) || handoverAsked || offlineShown();
    renderStatus();
    renderRating();
    renderAgent();
    renderTranscriptButton();
    renderPrechat();
  }

  // --- The status line ---------------------------------------------------------------------
  // One line, derived from one state each time anything it depends on changes (the socket,
  // the conversation's state, the merchant's availability, a reply), so two contradicting
  // bars ("nobody online" and "you are next") can never show at once.

  function statusState() {
    if (!socket.ready) {
      let text = socket.everReady ? S("reconnecting") : S("connecting");
      if (socket.outbox.size) text += " " + S("offline");
      return { state: socket.everReady ? "reconnecting" : "connecting", text };
    }
    if (offlineShown()) return null; // the form says what happens instead
    if (handoverAsked) return { state: "handover", text: S("handover_sent") };
    const a = availability();
    const c = convState;
    const known = c && convId !== null && c.id === convId; // a state frame for this conversation
    const active = known && (c.status === "open" || c.status === "pending");
    const ended = known && !active;
    const offer = Boolean(a.offline_form);
    // An agent took it, or has written in it (a conversation routed at once gets no state frame).
    if ((active && c.assigned) || (!ended && agentReplied !== null && agentReplied === convId)) {
      return { state: "served", text: S("status_served") };
    }
    const position = active && !c.bot_active ? c.queue_position : null;
    if (position) {
      const ahead = position - 1;
      const seconds = c.estimated_wait_seconds;
      let text;
      if (ahead < 1) text = S("queue_next");
      else if (seconds === null || seconds === undefined) text = SF("queue_ahead", { ahead });
      else text = SF("queue_ahead_wait", { ahead, minutes: Math.max(1, Math.ceil(seconds / 60)) });
      return { state: "queued", text, offer: offer && a.agents !== "online" };
    }
    if (a.open === false) {
      const when = a.next_opening ? " " + SF("offline_next", { when: openingText(a.next_opening) }) : "";
      return { state: "closed", text: S("status_closed") + when, offer };
    }
    const agents = a.agents || (a.agents_online ? "online" : "offline");
    if (agents === "online") return { state: "online", text: S("status_online") };
    if (agents === "away") return { state: "away", text: S("status_away"), offer };
    return { state: "offline", text: S("status_offline"), offer };
  }

  let closed = false; // showClosed(): the merchant blocked this visitor

  function renderStatus() {
    if (!ui || closed) return;
    const s = statusState();
    ui.status.hidden = !s;
    if (!s) return;
    ui.status.dataset.state = s.state;
    ui.status.classList.toggle("conn", s.state === "connecting" || s.state === "reconnecting");
    ui.status.querySelector(".status-text").textContent = s.text;
    ui.status.querySelector(".to-offline").hidden = !s.offer;
  }

  function openingText(iso) {
    return new Date(iso).toLocaleString([], { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function askHuman() {
    if (!socket.ready) return;
    socket.send({ type: "handover.request" });
    handoverAsked = true;
    renderConversationState();
  }

  // --- Leave a message (nobody available) ---------------------------------------------------

  function buildOfflineForm() {
    const field = (name, control) => {
      const err = el("span", { class: "ferr", role: "alert" });
      err.hidden = true;
      control.name = name;
      return { label: el("label", {}, S("offline_" + name), control, err), control, err };
    };
    const fields = {
      name: field("name", el("input", { type: "text", maxlength: "100", autocomplete: "name" })),
      contact: field("contact", el("input", { type: "text", maxlength: "200", autocomplete: "email" })),
      // No maxlength here either: the server says "too long" next to the field instead.
      message: field("message", el("textarea", {})),
    };
    const a = availability();
    const next = a.next_opening
      ? el("p", { class: "next", text: SF("offline_next", { when: openingText(a.next_opening) }) })
      : null;
    const general = el("p", { class: "ferr general", role: "alert" });
    general.hidden = true;
    const submitButton = el("button", { class: "submit", type: "submit", text: S("offline_submit") });
    const form = el("form", { class: "offline-fields", novalidate: "" },
      ...Object.values(fields).map((f) => f.label), general, submitButton);
    const done = el("p", { class: "done", role: "status" });
    done.hidden = true;
    const back = el("button", { class: "link to-chat", type: "button", text: S("offline_chat"), onclick: () => showOffline(false) });
    const intro = S(a.open === false ? "offline_closed" : "offline_intro");
    const root = el("div", { class: "offline" }, el("p", { class: "intro", text: intro }), next, form, done, back);
    form.addEventListener("submit", (e) => { e.preventDefault(); submitOffline(); });
    // One id per message left: a retry after a lost answer is stored once.
    return { root, form, fields, general, done, submitButton, id: randomId() };
  }

  const offlineShown = () => Boolean(ui.offline && !ui.offline.root.hidden);

  // The form is built the first time it is shown: most visitors never need it.
  function showOffline(on) {
    if (on && !ui.offline) {
      ui.offline = buildOfflineForm();
      ui.panel.insertBefore(ui.offline.root, ui.form);
    }
    for (const part of [ui.list, ui.form]) part.hidden = on;
    if (ui.offline) ui.offline.root.hidden = !on;
    if (on) ui.typing.hidden = true;
    renderTeams();
    renderConversationState();
    if (!on) scrollDown();
  }

  async function submitOffline() {
    const o = ui.offline;
    const payload = { token: boot.token, client_msg_id: o.id };
    for (const [name, f] of Object.entries(o.fields)) {
      payload[name] = f.control.value.trim();
      f.err.hidden = true;
      f.control.classList.remove("invalid");
    }
    o.general.hidden = true;
    o.submitButton.disabled = true;
    o.submitButton.textContent = S("offline_sending");
    let response = null;
    let data = {};
    try {
      response = await fetch(`${HOST}/widget/api/offline?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no preflight, as bootstrap
        body: JSON.stringify(payload),
        credentials: "omit",
      });
      data = await response.json();
    } catch (e) { /* network failure or not JSON: the general error below */ }
    o.submitButton.disabled = false;
    o.submitButton.textContent = S("offline_submit");
    if (response && response.ok) {
      o.form.hidden = true;
      o.done.textContent = data.detail || "";
      o.done.hidden = false;
      return;
    }
    // Field errors from a 400: {errors: {field: ["..."]}} next to each field.
    const errors = (data && (data.errors || data.fields)) || {};
    let shown = false;
    for (const [name, f] of Object.entries(o.fields)) {
      const msg = errors[name];
      if (!msg) continue;
      f.err.textContent = Array.isArray(msg) ? msg.join(" ") : String(msg);
      f.err.hidden = false;
      f.control.classList.add("invalid");
      if (!shown) f.control.focus();
      shown = true;
    }
    if (!shown) {
      o.general.textContent = (data && data.detail) || S("error");
      o.general.hidden = false;
    }
  }

  const renderState = () => renderStatus();

  function renderBadge() {
    ui.badge.textContent = unread > 99 ? "99+" : String(unread);
    ui.badge.hidden = isOpen || unread === 0;
  }

  function scrollDown() {
    ui.list.scrollTop = ui.list.scrollHeight;
  }

  function renderMessage(m) {
    if (m.kind === "event") return renderSystemLine(m);
    const mine = m.sender_kind === "visitor";
    const bot = m.sender_kind === "bot";
    const who = m.sender_name || (bot ? S("bot") : S("agent"));
    const metaText = mine ? timeText(m.created_at) : [who, timeText(m.created_at)].filter(Boolean).join(" · ");
    // A clarifying question's choices: each one sends its label, as if typed.
    const labels = bot && m.meta && Array.isArray(m.meta.choices)
      ? m.meta.choices.map((c) => String((c && c.label) || "").trim()).filter(Boolean) : [];
    const choices = labels.length ? el("div", { class: "choices" }) : null;
    for (const label of labels) {
      choices.append(el("button", { class: "choice", type: "button", text: label, onclick: () => {
        for (const b of choices.querySelectorAll("button")) b.disabled = true;
        say(label);
      } }));
    }
    const when = el("span", { class: "when", text: metaText });
    if (m.created_at) when.title = dateTimeText(m.created_at);
    const bubble = m.attachment
      ? el("div", { class: "bubble has-att" }, attachmentNode(m.attachment),
        m.body ? el("span", { class: "cap" }, linkified(m.body)) : null)
      : el("div", { class: "bubble" }, linkified(m.body || ""));
    const li = el("li", { class: "msg " + (mine ? "mine" : "theirs") + (bot ? " bot" : "") },
      el("div", { class: "meta" }, when),
      bubble,
      choices,
    );
    li.dataset.kind = m.sender_kind;
    return li;
  }

  // Read ticks: the visitor's own stored messages up to the highest seq an agent has read.
  function renderTick(li) {
    if (!li.classList.contains("mine") || !li.dataset.seq) return;
    const read = Number(li.dataset.seq) <= (agentRead.get(Number(li.dataset.conv)) || 0);
    let tick = li.querySelector(".tick");
    if (read && !tick) {
      tick = el("span", { class: "tick", text: "✓ " + S("read") });
      li.querySelector(".meta").append(tick);
    }
    li.classList.toggle("read", read);
  }

  function agentReadUpTo(conversationId, seq) {
    if (seq <= (agentRead.get(conversationId) || 0)) return;
    agentRead.set(conversationId, seq);
    for (const li of allShown()) renderTick(li);
  }

  function showAgentTyping(active) {
    clearTimeout(agentTypingTimer);
    ui.typing.hidden = !active;
    // A lost "stopped" frame (closed tab, dropped socket) must not leave it on forever.
    if (active) agentTypingTimer = setTimeout(() => { ui.typing.hidden = true; }, AGENT_TYPING_MS);
  }

  // Stored messages are ordered by (conversation, seq); unacknowledged ones stay below them.
  function place(li, m) {
    li.dataset.conv = m.conversation_id;
    li.dataset.seq = m.seq;
    insertOrdered(ui.list, li, (node) => !node.dataset.seq
      || Number(node.dataset.conv) > m.conversation_id
      || (Number(node.dataset.conv) === m.conversation_id && Number(node.dataset.seq) > m.seq),
    (node) => node.classList.contains("welcome"));
  }

  // A stored message from history, message.created or message.ack. Returns true if new.
  function receive(m, live) {
    if (m.private) return false; // never sent to visitors; belt and braces
    if (convId === null || m.conversation_id > convId) {
      convId = m.conversation_id;
      renderTeams(); // a conversation exists: its team is settled
    }
    const mine = m.sender_kind === "visitor";
    if (m.sender_kind === "agent" && m.conversation_id === convId) agentReplied = convId;
    const out = socket.settle(m);
    if (out) outboxPersist(m.client_msg_id, null);
    const seqs = shownIn(m.conversation_id);
    if (seqs.has(m.seq)) {
      if (out) out.li.remove(); // acknowledged twice (ack + broadcast): keep the first
      return false;
    }
    let li;
    if (out) {
      li = out.li;
      li.classList.remove("pending", "failed");
      li.querySelector(".when").textContent = timeText(m.created_at);
      li.querySelector(".when").title = dateTimeText(m.created_at);
      const err = li.querySelector(".err");
      if (err) err.remove();
      if (m.attachment) {
        const fresh = renderMessage(m);
        li.replaceChild(fresh.querySelector(".bubble"), li.querySelector(".bubble"));
      }
    } else {
      li = renderMessage(m);
    }
    seqs.add(m.seq, li);
    place(li, m);
    renderTick(li);
    scrollDown();
    // A system line ("Bob joined") is no reply: no chime, no unread count.
    if (!mine && live && m.kind !== "event") {
      showAgentTyping(false); // the reply it was typing has arrived
      flashStart();
      chime();
      if (isOpen && document.visibilityState === "visible") markRead();
      else { unread += 1; renderBadge(); }
    }
    renderState();
    return true;
  }

  function markRead() {
    unread = 0;
    renderBadge();
    if (!socket.ready || convId === null) return; // onReady calls again once connected
    const seq = lastSeq(convId, true);
    if (seq > lastReadSent) {
      lastReadSent = seq;
      socket.send({ type: "conversation.read", seq });
    }
  }

  function open(options) {
    wantOpen = true;
    if (!ui) return; // before bootstrap finished: opens when the UI is built
    isOpen = true;
    ui.panel.hidden = false;
    ui.root.classList.add("open");
    storageSet("sessionStorage", "open", "1");
    renderBadge();
    scrollDown();
    markRead();
    if (!options || options.focus !== false) ui.textarea.focus();
  }

  // Proactive chat: an agent's invitation (meta.invite) opens the panel as it arrives. Without
  // taking the page's focus: the visitor may be typing in the page, and on a phone a focused
  // textarea pops the keyboard up over what they were reading.
  function invited(m) {
    if (m.meta && m.meta.invite && !isOpen) open({ focus: false });
  }

  // An invitation sent while the visitor was away (another site, the tab closed) reaches them
  // in the replay when they come back: it opens the panel as a live one does while it is fresh
  // (INVITE_FRESH_MS) and still unread. An old one, or one they have read, only waits in the
  // thread (docs/desk.md, "Invite to chat").
  const INVITE_FRESH_MS = 30 * 60 * 1000;
  let readUpTo = 0; // the visitor's read position when this socket became ready
  function invitedWhileAway(m) {
    if (m.seq > readUpTo && Date.now() - Date.parse(m.created_at) < INVITE_FRESH_MS) invited(m);
  }

  function close() {
    wantOpen = false;
    if (!ui) return;
    isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    storageSet("sessionStorage", "open", null);
    renderBadge();
  }

  function toggle() { (isOpen ? close : open)(); }

  // Esc closes the panel (focus goes back to the launcher); Tab and Shift+Tab cycle through
  // the panel's own controls instead of wandering off into the page behind it.
  function panelKeydown(e) {
    if (e.key === "Escape" && !e.isComposing && ui.emoji && !ui.emoji.hidden) {
      e.preventDefault(); // the open emoji picker closes first, then the panel
      toggleEmoji(false);
      ui.emojiButton.focus();
      return;
    }
    if (e.key === "Escape" && !e.isComposing) {
      e.preventDefault();
      close();
      ui.launcher.focus();
      return;
    }
    if (e.key !== "Tab") return;
    const focusable = [...ui.panel.querySelectorAll("button, textarea, input, a[href], [tabindex]")]
      .filter((node) => !node.disabled && node.tabIndex >= 0 && node.getClientRects().length);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const active = ui.shadow.activeElement;
    if (e.shiftKey && (active === first || !ui.panel.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  }

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
    // The emoji button next to Send, and its picker above the message box.
    const emojiButton = el("button", {
      class: "emoji-open", type: "button", "aria-label": S("emoji"), title: S("emoji"),
      "aria-expanded": "false", "aria-controls": "kefu-emoji", text: "☺", onclick: () => toggleEmoji(),
    });
    ui.form.insertBefore(emojiButton, ui.form.querySelector(".send"));
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

  // -- Transcript by e-mail (widget/transcript.py): a header button opens a one-field form --

  function mailIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    for (const d of ["M3 6h18v12H3z", "M3 7l9 6 9-6"]) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  function buildTranscript() {
    const open = el("button", {
      class: "mail", type: "button", "aria-label": S("transcript"), title: S("transcript"),
      "aria-expanded": "false", "aria-controls": "kefu-transcript", onclick: () => toggleTranscript(),
    }, mailIcon());
    const header = ui.panel.querySelector("header");
    header.insertBefore(open, ui.sound);
    const input = el("input", { type: "email", autocomplete: "email", maxlength: "254", "aria-label": S("transcript_email"), placeholder: S("transcript_email") });
    const err = el("p", { class: "tr-msg", role: "status" });
    err.hidden = true;
    // Not a <form>: the panel's one form is the message box (pages and tests find it so).
    const send = el("button", { class: "tr-send", type: "button", text: S("transcript_send"), onclick: sendTranscript });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); sendTranscript(); }
    });
    const form = el("div", { class: "transcript", id: "kefu-transcript", role: "group", "aria-labelledby": "kefu-tr-title" },
      el("p", { class: "tr-label", id: "kefu-tr-title", text: S("transcript") }), el("div", { class: "tr-row" }, input, send), err);
    form.hidden = true;
    ui.panel.insertBefore(form, ui.list);
    Object.assign(ui, { mail: open, transcript: form, trInput: input, trMsg: err, trSend: send });
    renderTranscriptButton();
  }

  function renderTranscriptButton() {
    if (!ui || !ui.mail) return;
    ui.mail.hidden = convId === null; // nothing to send before the first message
    if (ui.mail.hidden) toggleTranscript(false);
  }

  function toggleTranscript(on) {
    if (!ui.transcript) return;
    const show = on === undefined ? ui.transcript.hidden : on;
    ui.transcript.hidden = !show;
    ui.mail.setAttribute("aria-expanded", String(show));
    if (show) { ui.trMsg.hidden = true; ui.trInput.focus(); }
  }

  async function sendTranscript() {
    ui.trSend.disabled = true;
    let response = null;
    let data = {};
    try {
      response = await fetch(`${HOST}/widget/api/transcript?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no preflight, as bootstrap
        body: JSON.stringify({ token: boot.token, email: ui.trInput.value.trim() }),
        credentials: "omit",
      });
      data = await response.json();
    } catch (e) { /* network failure or not JSON: the general error below */ }
    ui.trSend.disabled = false;
    const ok = Boolean(response && response.ok);
    const fieldError = data && data.errors && (data.errors.email || data.errors.token);
    ui.trMsg.textContent = (fieldError && [].concat(fieldError).join(" ")) || (data && data.detail) || S("error");
    ui.trMsg.classList.toggle("bad", !ok);
    ui.trInput.classList.toggle("invalid", !ok && Boolean(data && data.errors && data.errors.email));
    ui.trMsg.hidden = false;
  }

  // -- Pre-chat form (widget/prechat.py): the merchant's questions before the first message --

  const prechatPending = () => Boolean(boot.prechat && boot.prechat.length) && convId === null && socket.outbox.size === 0;

  function buildPrechat() {
    if (!(boot.prechat && boot.prechat.length)) return;
    const controls = {};
    const rows = boot.prechat.map((f) => {
      const id = `kefu-pc-${f.key}`;
      const input = el("input", {
        id, type: f.type || "text", maxlength: "200", "aria-describedby": `${id}-err`,
        autocomplete: { name: "name", email: "email", phone: "tel" }[f.key] || "off",
      });
      if (f.required) input.setAttribute("aria-required", "true");
      const err = el("span", { class: "ferr", id: `${id}-err` });
      err.hidden = true;
      controls[f.key] = { input, err };
      return el("label", { for: id }, el("span", { class: "pc-label" }, f.label,
        f.required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : el("span", { class: "opt", text: ` (${S("prechat_optional")})` })),
      input, err);
    });
    const general = el("p", { class: "ferr", role: "alert" });
    general.hidden = true;
    const submitButton = el("button", { class: "submit", type: "submit", text: S("prechat_start") });
    const form = el("form", { class: "prechat", novalidate: "", "aria-labelledby": "kefu-pc-title" },
      el("p", { class: "pc-title", id: "kefu-pc-title", text: S("prechat_intro") }), ...rows, general, submitButton);
    form.addEventListener("submit", (e) => { e.preventDefault(); submitPrechat(); });
    ui.panel.insertBefore(form, ui.count);
    Object.assign(ui, { prechat: form, pcControls: controls, pcGeneral: general, pcSubmit: submitButton });
  }

  function renderPrechat() {
    if (!ui || !ui.prechat) return;
    const show = prechatPending() && !offlineShown();
    ui.prechat.hidden = !show;
    if (show) ui.form.hidden = true;
    else if (!offlineShown()) ui.form.hidden = false;
  }

  async function submitPrechat() {
    const fields = {};
    for (const [key, c] of Object.entries(ui.pcControls)) {
      fields[key] = c.input.value.trim();
      c.err.hidden = true;
      c.input.classList.remove("invalid");
      c.input.removeAttribute("aria-invalid");
    }
    ui.pcGeneral.hidden = true;
    ui.pcSubmit.disabled = true;
    let response = null;
    let data = {};
    try {
      response = await fetch(`${HOST}/widget/api/prechat?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no preflight, as bootstrap
        body: JSON.stringify({ token: boot.token, fields }),
        credentials: "omit",
      });
      data = await response.json();
    } catch (e) { /* network failure or not JSON: the general error below */ }
    ui.pcSubmit.disabled = false;
    if (response && response.ok) {
      boot.prechat = [];
      renderPrechat();
      ui.textarea.focus();
      return;
    }
    // Field errors next to each field, as the server wrote them (in the visitor's language).
    const errors = (data && data.errors) || {};
    let first = null;
    for (const [key, c] of Object.entries(ui.pcControls)) {
      if (!errors[key]) continue;
      c.err.textContent = [].concat(errors[key]).join(" ");
      c.err.hidden = false;
      c.input.classList.add("invalid");
      c.input.setAttribute("aria-invalid", "true");
      first = first || c.input;
    }
    if (first) first.focus();
    else {
      ui.pcGeneral.textContent = (data && data.detail) || S("error");
      ui.pcGeneral.hidden = false;
    }
  }

  // --- Title flash: a reply while the tab is hidden -----------------------------------------

  let flashTimer = null;
  let flashTitle = null;      // the page's own title while flashing

  function flashStart() {
    if (flashTimer || document.visibilityState !== "hidden") return;
    flashTitle = document.title;
    let on = false;
    const flashed = () => `(${unread || 1}) ${S("title_new")}`;
    flashTimer = setInterval(() => {
      // The page changed its own title meanwhile (single-page sites): keep that one.
      if (document.title !== flashTitle && document.title !== flashed()) flashTitle = document.title;
      on = !on;
      document.title = on ? flashed() : flashTitle;
    }, TITLE_FLASH_MS);
  }

  function flashStop() {
    if (!flashTimer) return;
    clearInterval(flashTimer);
    flashTimer = null;
    document.title = flashTitle;
    flashTitle = null;
  }

  // The page's title, not the flashing one (what the agent is told the visitor is reading).
  const pageTitle = () => (flashTimer ? flashTitle : document.title);

  // --- Sending ------------------------------------------------------------------------------

  // Characters as the server counts them (code points: an emoji is one, not two).
  const draftLength = (text) => [...text].length;
  const maxLength = () => boot.max_length || 5000;

  function renderCount() {
    const length = draftLength(ui.textarea.value.trim());
    const max = maxLength();
    const over = length - max;
    ui.count.hidden = length < max * COUNT_FROM;
    ui.count.classList.toggle("over", over > 0);
    ui.count.textContent = over > 0
      ? SF("count_over", { count: length, max, over })
      : SF("count", { count: length, max });
    ui.form.querySelector(".send").disabled = over > 0;
  }

  function submit() {
    const body = ui.textarea.value.trim();
    if (!body) return;
    if (draftLength(body) > maxLength()) {
      renderCount(); // never cut it: the visitor shortens it (or splits it) and sends again
      ui.textarea.focus();
      return;
    }
    if (needTeam() && !team) {
      ui.teams.classList.add("attention");
      ui.teams.querySelector(".label").textContent = S("team_required");
      return;
    }
    if (say(body)) {
      ui.textarea.value = "";
      renderCount();
      sendTyping(""); // the draft became a message
    }
  }

  function say(body) {
    if (socket.outbox.size >= OUTBOX_LIMIT) return false;
    const id = randomId();
    const entry = { body, failed: false, t: Date.now() };
    // The team only matters for the message that starts a conversation.
    if (convId === null && team) entry.team = team;
    outboxPersist(id, entry); // before it goes out: a reload right now must not lose it
    pending(id, entry);
    scrollDown();
    renderState();
    ui.teams.hidden = true;
    return true;
  }

  // Show an unacknowledged message (new, or restored from storage after a reload).
  function pending(id, entry) {
    const li = renderMessage({ sender_kind: "visitor", body: entry.body, created_at: null, attachment: entry.att });
    li.classList.add("pending");
    li.dataset.clientMsgId = id;
    li.querySelector(".bubble").addEventListener("click", (e) => {
      if (!li.classList.contains("failed")) return;
      e.preventDefault();
      retry(id);
    });
    const frame = { type: "message.send", client_msg_id: id, body: entry.body };
    if (entry.team) frame.team_id = entry.team;
    if (entry.att) frame.attachment_id = entry.att.id;
    ui.list.append(li);
    socket.queue(id, Object.assign({ li, frame }, entry)); // goes out now if connected
    if (entry.failed) fail(id, socket.outbox.get(id), "");
  }

  function restoreOutbox() {
    const saved = Object.entries(outboxStored())
      .filter(([id, e]) => CLIENT_MSG_ID.test(id) && e && typeof e.body === "string"
        && (e.body.trim() || (e.att && Number.isInteger(e.att.id))))
      .sort((a, b) => (a[1].t || 0) - (b[1].t || 0))
      .slice(-OUTBOX_LIMIT);
    for (const [id, e] of saved) {
      const team = Number.isInteger(e.team) && e.team > 0 ? e.team : undefined;
      pending(id, { body: e.body, failed: Boolean(e.failed), t: e.t || 0, team, att: e.att || undefined });
    }
  }

  // The merchant blocked this visitor: the chat shows as closed, in neutral words (nothing says
  // "blocked"), and nothing more can be written.
  function showClosed() {
    if (closed || !ui) return;
    closed = true;
    for (const part of [ui.form, ui.status, ui.handover, ui.teams, ui.typing]) if (part) part.hidden = true;
    if (ui.offline) ui.offline.root.hidden = true;
    ui.list.hidden = false;
    ui.panel.insertBefore(el("p", { class: "closed", role: "status", text: S("blocked") }), ui.list.nextSibling);
  }

  function fail(id, out, message, frame) {
    if (frame && frame.code === "visitor_blocked") {
      // Retrying cannot help: the message leaves the outbox (no "tap to retry", no resend after
      // a reload) and stays shown as not sent.
      showClosed();
      socket.outbox.delete(id);
      outboxPersist(id, null);
      out.li.classList.remove("pending");
      out.li.classList.add("failed");
      return;
    }
    out.failed = true;
    outboxPersist(id, out);
    out.li.classList.remove("pending");
    out.li.classList.add("failed");
    let err = out.li.querySelector(".err");
    if (!err) { err = el("div", { class: "err" }); out.li.append(err); }
    err.textContent = `${S("failed")} ${message ? "(" + message + ")" : ""}`.trim();
  }

  function retry(id) {
    const out = socket.outbox.get(id);
    if (!out || !out.failed) return;
    out.failed = false;
    outboxPersist(id, out);
    out.li.classList.remove("failed");
    out.li.classList.add("pending");
    const err = out.li.querySelector(".err");
    if (err) err.remove();
    socket.retry(id); // same client_msg_id: the server stores it at most once
  }

  // --- Attachments --------------------------------------------------------------------------
  // A file goes up over HTTP first (with a progress bar), then its message goes through the
  // outbox like text: the upload_id and the client_msg_id are the same id, so a retried upload
  // is stored once and a resent message once. docs/attachments.md.

  const ACCEPT = {
    image: "image/*", pdf: ".pdf,application/pdf",
    office: ".doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp", text: ".txt,.csv,text/plain",
    archive: ".zip,.7z,.rar,.gz", media: "audio/*,video/*",
  };
  const attachmentsOn = () => Boolean(boot && boot.attachments && boot.attachments.types.length);
  const acceptList = () => (attachmentsOn() ? boot.attachments.types.map((t) => ACCEPT[t] || "").filter(Boolean).join(",") : "");
  const absolute = (url) => (url ? HOST + url : "");

  function clipIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M21 11.5l-8.6 8.6a5.5 5.5 0 01-7.8-7.8l8.6-8.6a3.7 3.7 0 015.2 5.2l-8.6 8.6a1.8 1.8 0 01-2.6-2.6l7.9-7.9");
    svg.append(path);
    return svg;
  }

  function sizeText(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
    return `${(bytes / 1048576).toFixed(1)} MB`;
  }

  // The thumbnail (opens the viewer) or the named file card (downloads); names are text only.
  function attachmentNode(a) {
    if (a.kind === "image" && (a.thumbnail_url || a.preview)) {
      const img = el("img", { alt: a.name, src: a.preview || absolute(a.thumbnail_url) });
      if (a.width && a.height) {
        const scale = Math.min(1, 220 / a.width, 220 / a.height);
        img.width = Math.max(1, Math.round(a.width * scale));
        img.height = Math.max(1, Math.round(a.height * scale));
      }
      return el("button", { class: "thumb", type: "button", title: S("open_image"),
        "aria-label": `${S("open_image")}: ${a.name}`, onclick: (e) => { e.stopPropagation(); if (a.url) view(a); } }, img);
    }
    const ext = (a.name.split(".").pop() || "").slice(0, 4);
    const card = el("a", { class: "file", title: S("download") },
      el("span", { class: "icon", "aria-hidden": "true", text: ext }),
      el("span", {}, el("span", { class: "fname", text: a.name }), a.size ? el("span", { class: "fsize", text: sizeText(a.size) }) : null));
    if (a.url) {
      card.href = absolute(a.url);
      card.rel = "noopener noreferrer";
      card.target = "_blank";
    }
    return card;
  }

  function view(a) {
    const close = () => { viewer.remove(); ui.panel.removeEventListener("keydown", onKey, true); };
    const onKey = (e) => { if (e.key === "Escape") { e.stopPropagation(); e.preventDefault(); close(); } };
    const viewer = el("div", { class: "viewer", role: "dialog", "aria-label": a.name },
      el("div", { class: "vbar" },
        el("span", { class: "vname", text: a.name }),
        el("a", { href: absolute(a.url) + "?download=1", rel: "noopener noreferrer", text: S("download") }),
        el("button", { class: "x", type: "button", "aria-label": S("close"), text: "×", onclick: close })),
      el("div", { class: "vimg", onclick: (e) => { if (e.target === e.currentTarget) close(); } },
        el("img", { alt: a.name, src: absolute(a.url) })));
    ui.panel.append(viewer);
    ui.panel.addEventListener("keydown", onKey, true);
    viewer.querySelector(".x").focus();
  }

  function sendFiles(files) {
    if (!attachmentsOn()) return;
    if (needTeam() && !team) {
      ui.teams.classList.add("attention");
      ui.teams.querySelector(".label").textContent = S("team_required");
      return;
    }
    for (const file of files) upload(file);
  }

  // One upload: a pending bubble with a progress bar; on success it joins the outbox.
  function upload(file) {
    if (socket.outbox.size >= OUTBOX_LIMIT) return;
    const id = randomId();
    const local = { id: 0, kind: file.type.startsWith("image/") ? "image" : "file", name: file.name || "file", size: file.size };
    if (local.kind === "image") local.preview = URL.createObjectURL(file);
    const li = renderMessage({ sender_kind: "visitor", body: "", created_at: null, attachment: local });
    li.classList.add("pending");
    li.dataset.clientMsgId = id;
    const bar = el("span");
    const progress = el("div", { class: "progress", role: "progressbar", "aria-label": S("uploading"),
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, bar);
    li.querySelector(".bubble").append(progress);
    ui.list.append(li);
    scrollDown();
    const maxBytes = (boot.attachments.max_mb || 10) * 1048576;
    const attempt = () => {
      li.classList.remove("failed");
      li.classList.add("pending");
      const old = li.querySelector(".err");
      if (old) old.remove();
      bar.style.width = "0";
      if (file.size > maxBytes) return uploadFailed(li, SF("too_large", { mb: boot.attachments.max_mb }), attempt);
      const form = new FormData();
      form.append("token", boot.token);
      form.append("upload_id", id);
      form.append("file", file, file.name || "file");
      // XMLHttpRequest, not fetch: only it reports the upload's progress.
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${HOST}/widget/api/attachments?key=${encodeURIComponent(KEY)}`);
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const pct = Math.round((e.loaded / e.total) * 100);
        bar.style.width = pct + "%";
        progress.setAttribute("aria-valuenow", String(pct));
      };
      xhr.onerror = () => uploadFailed(li, "", attempt);
      xhr.onload = () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* described below */ }
        if (xhr.status === 200 || xhr.status === 201) {
          progress.remove();
          if (local.preview) data.preview = local.preview;
          const entry = { body: "", failed: false, t: Date.now(), att: data };
          if (convId === null && team) entry.team = team;
          const persisted = Object.assign({}, entry, { att: Object.assign({}, data, { preview: undefined }) });
          outboxPersist(id, persisted);
          li.remove();
          pending(id, entry);
          scrollDown();
          renderState();
          ui.teams.hidden = true;
          return;
        }
        const errors = data.errors || {};
        const message = (errors.file && errors.file[0]) || data.detail || "";
        if (xhr.status === 400 && data.code === "token_expired") { rebootstrap(); }
        uploadFailed(li, message, attempt, xhr.status === 400 && data.code !== "token_expired");
      };
      xhr.send(form);
    };
    attempt();
  }

  function uploadFailed(li, message, again, final) {
    li.classList.remove("pending");
    li.classList.add("failed");
    const preview = li.querySelector(".thumb img");
    const bar = li.querySelector(".progress");
    if (final && bar) bar.remove();
    if (final && preview) {
      // Not an image after all (the server read the bytes): show it by its name.
      const name = preview.alt;
      li.querySelector(".thumb").replaceWith(attachmentNode({ kind: "file", name, size: 0 }));
    }
    let err = li.querySelector(".err");
    if (!err) { err = el("div", { class: "err", role: "alert" }); li.append(err); }
    // A refused file (too large, wrong type) cannot succeed again: it is removed on a tap.
    // Chinese sentences end in "。" and take no space before the next one.
    const join = (a, b) => (a && b ? a + (/[。！？]$/.test(a) ? "" : " ") + b : a || b);
    err.textContent = final ? join(message, S("dismiss")) : join(S("upload_failed"), message);
    li.querySelector(".bubble").onclick = (e) => {
      e.preventDefault();
      if (final) li.remove(); else again();
    };
    scrollDown();
  }

  // --- Typing and page views ---------------------------------------------------------------

  // The agent sees the draft as it is typed (never stored). Throttled: the first change goes out
  // at once, later ones at most every TYPING_EVERY_MS, and the last one always; a cleared draft
  // goes out at once so the agent stops seeing it.
  function draftChanged() {
    const text = ui.textarea.value;
    if (!text.trim()) { sendTyping(""); return; }
    const wait = typingAt + TYPING_EVERY_MS - Date.now();
    if (wait <= 0) sendTyping(text);
    else if (!typingTimer) typingTimer = setTimeout(() => sendTyping(ui.textarea.value), wait);
  }

  function sendTyping(text) {
    clearTimeout(typingTimer);
    typingTimer = null;
    text = text.trim() ? text.slice(0, 1000) : ""; // the protocol's limit for a draft
    // Without a conversation the server has nowhere to show it: the first message starts one.
    if (!socket.ready || convId === null || text === typingSent) return;
    typingSent = text;
    typingAt = Date.now();
    socket.send({ type: "typing", text });
  }

  // The page the visitor is on, for the agent; sent after auth and whenever it changes.
  function pageChanged() {
    const url = location.href.slice(0, 2000);
    const title = pageTitle().slice(0, 500);
    if (!socket.ready || pageSent === url + "\n" + title) return;
    pageSent = url + "\n" + title;
    socket.send({ type: "page.view", url, title });
  }

  function watchPage() {
    // Single-page sites navigate with the History API, which fires no event: wrap it. The
    // title usually changes just after, hence the timeout and the cheap title poll.
    for (const name of ["pushState", "replaceState"]) {
      const original = history[name];
      if (typeof original !== "function") continue;
      history[name] = function (...args) {
        const result = original.apply(this, args);
        setTimeout(pageChanged, 0);
        return result;
      };
    }
    window.addEventListener("popstate", pageChanged);
    window.addEventListener("hashchange", pageChanged);
    setInterval(pageChanged, TITLE_POLL_MS);
  }

  // --- Socket (the shared core; what is the visitor's own is here) ---------------------------

  const socket = createSocket({
    url: () => WS_HOST + boot.ws_path,
    ownKind: "visitor",
    hello() {
      // last_seq only means something for the conversation it was counted in; the server
      // replays its current conversation after it.
      authConvId = convId;
      authLastSeq = convId === null ? 0 : lastSeq(convId, false);
      return { type: "auth", token: boot.token, last_seq: authLastSeq };
    },
    accept(frame) {
      const conversation = frame.conversation;
      if (conversation && authLastSeq > 0 && conversation.id !== authConvId) {
        // A new conversation began while we were away: our last_seq counted the old one, so
        // resume the new one from its start.
        convId = conversation.id;
        socket.reopen(true);
        return false;
      }
      return true;
    },
    onConnecting: renderState,
    onReady,
    onFrame: handle,
    onFailed: fail,
    onDropped() {
      showAgentTyping(false);
      renderState();
    },
    // The token expired or does not fit: fetch a new one, then reconnect.
    onRefused: rebootstrap,
    // 4429: too many tabs of this visitor are connected; try again slowly.
    retryDelay: (code) => (code === 4429 ? MAX_BACKOFF_MS : null),
  });

  let bootAttempts = 0;

  async function rebootstrap() {
    try {
      boot = Object.assign(boot, await bootstrap());
      bootAttempts = 0;
      socket.scheduleReconnect();
    } catch (err) {
      console.error(`[kefu] widget stopped: ${err.message}`);
      if (err.retry) setTimeout(rebootstrap, backoff(bootAttempts++));
    }
  }

  function handle(frame) {
    switch (frame.type) {
      case "history":
        frame.messages.forEach((m) => { if (receive(m, false)) invitedWhileAway(m); });
        if (!frame.has_more && isOpen) markRead(); // has_more: the server sends the next page
        break;
      case "message.created": if (receive(frame.message, true)) invited(frame.message); break;
      case "message.ack": receive(frame.message, false); break;
      case "conversation.state": conversationState(frame.conversation); break;
      case "availability.changed": availabilityChanged(frame.availability); break;
      case "typing":
        if (frame.sender_kind === "agent" && frame.conversation_id === convId) showAgentTyping(frame.active);
        break;
      case "conversation.read":
        if (frame.reader === "agent") agentReadUpTo(frame.conversation_id, frame.seq);
        else if (frame.conversation_id === convId && frame.seq >= lastSeq(convId, true)) {
          // Read in another tab of this visitor: nothing is unread here either.
          unread = 0;
          renderBadge();
        }
        break;
      case "error":
        // (Refusals of an outbox entry are the core's: they reach fail().)
        console.warn(`[kefu] ${frame.code}: ${frame.message}`);
        if (!frame.ref && ratingRefused(frame)) break;
        // A refused "talk to a human": offer the button again.
        if (handoverAsked && !frame.ref) { handoverAsked = false; renderConversationState(); }
        break;
      default: break; // pong, and frames newer than this script
    }
  }

  // Live presence of the merchant's agents (and business hours), as the status line shows it.
  function availabilityChanged(fresh) {
    if (!fresh || !boot) return;
    boot.availability = Object.assign({}, boot.availability, fresh);
    renderStatus();
  }

  function onReady(frame) {
    const conversation = frame.conversation;
    if (frame.availability) boot.availability = Object.assign({}, boot.availability, frame.availability);
    typingSent = ""; // the server forgot the old socket's draft
    pageSent = "";
    if (conversation) {
      if (convId === null || conversation.id > convId) convId = conversation.id;
      if (!isOpen) { unread = conversation.unread_count; renderBadge(); }
      readUpTo = conversation.visitor_last_read_seq || 0;
      // Read ticks survive a reload: the server says how far agents have read.
      if (conversation.agent_last_read_seq) agentReadUpTo(conversation.id, conversation.agent_last_read_seq);
      conversationState(conversation);
    }
    renderTeams();
    renderState();
    pageChanged();
    socket.resend(); // same client_msg_id: stored at most once
    if (isOpen) markRead();
    draftChanged(); // a draft typed while offline
  }

  // --- Start --------------------------------------------------------------------------------

  window.Kefu = { loaded: true, open, close, toggle };

  async function start() {
    for (let attempt = 0; ; attempt++) {
      try {
        boot = await bootstrap();
        break;
      } catch (err) {
        if (!err.retry) {
          console.error(`[kefu] widget disabled: ${err.message}`);
          return;
        }
        // The server may be restarting: keep trying (slowly). Messages written before a
        // reload wait in localStorage meanwhile.
        if (attempt === 4) console.error(`[kefu] widget disabled until the server answers: ${err.message}`);
        await sleep(Math.max(backoff(attempt), err.waitMs || 0));
      }
    }
    storageSet("localStorage", "anon", boot.anonymous_id);
    if (boot.attribute_errors) console.warn("[kefu] data-user-attributes refused:", boot.attribute_errors);
    if (boot.identity_notice === "unsigned_fields_ignored") {
      console.warn("[kefu] data-user-hash signs data-user-id only: name, e-mail, phone and attributes " +
        "were ignored. Sign every field (docs/widget.md, \"Signed-in users\") to have them shown.");
    }
    buildUi();
    if (boot.blocked) showClosed();
    restoreOutbox();
    watchPage();
    socket.connect();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible") return;
      flashStop();
      if (isOpen) markRead();
    });
    window.addEventListener("online", socket.online);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
