/* Mozhongkefu chat widget: the one script a merchant embeds.

     <script src="https://HOST/widget/loader.js" data-merchant="WIDGET_KEY" async></script>

   Optional signed identity of the merchant's logged-in user (see the bootstrap view):
   data-user-id, data-user-hash, data-user-name, data-user-email.
   Optional data-team="TEAM_ID": route new conversations to that team (otherwise, when the
   merchant has teams, the visitor picks one before the first message).

   The UI lives in a Shadow DOM root, so the host page's CSS cannot break it and ours cannot
   leak out. Every piece of visitor or agent text goes through textContent, never markup.
   The wire protocol is conversations/protocol/ (docs/protocol.md).

   The socket itself (createSocket, SeqMap, insertOrdered, backoff) is the core shared with the
   workspace, conversations/static/realtime/socket.js. This file is the first part of the widget;
   the loader view serves the core, then the parts in the order of widget/script.py PARTS inside
   one function (state.js, styles.js, panel.js, ... start.js), so no part runs alone and every
   part sees the names of those before it. Its own code: finding the script tag, small helpers,
   the bootstrap. */
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

