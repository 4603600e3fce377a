  // Widget part (widget/script.py PARTS): The launcher and panel, the team choice, the queue place,
  // the bot hand-over, the status line.

  function buildUi() {
    const host = el("div", { id: "kefu-widget", "data-kefu": KEY });
    const root = host.attachShadow({ mode: "open" });
    const list = el("ol", { class: "list", "aria-live": "polite" });
    // No maxlength: the browser would cut a long paste silently. The counter warns instead, and
    // a message over the limit is kept in the box, not sent (see draftLength).
    // enterkeyhint: a phone's keyboard labels its Enter key "Send", which is what Enter does.
    const textarea = el("textarea", {
      rows: "1", enterkeyhint: "send", placeholder: S("placeholder"), "aria-label": S("placeholder"),
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
    // The clip (and the emoji button, buildExtras) sit in a row of tools above the box, as in
    // the Chinese desks visitors know: beside it they left the box too narrow (docs/widget.md).
    const tools = el("div", { class: "tools" }, attach);
    const form = el("form", { class: "composer" }, tools, fileInput, textarea, el("button", { class: "send", type: "submit", text: S("send") }));
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
    textarea.addEventListener("input", () => { renderCount(); fitBox(); draftChanged(); });
    textarea.addEventListener("keydown", (e) => {
      // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition (how
      // Chinese is typed) must not send half a sentence.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    document.body.append(host);
    ui = { host, root: kf, shadow: root, panel, list, textarea, count, status, badge, launcher, typing, handover, teams, form, tools, offline: null };
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

