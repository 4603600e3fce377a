  // Widget part (widget/script.py PARTS): The title flash and sending: the composer, the outbox,
  // failures and retries.

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

  // The message box is as tall as its draft, between the stylesheet's one line and its
  // max-height (then it scrolls): a long message stays readable while it is written.
  function fitBox() {
    const t = ui.textarea;
    t.style.height = ""; // the one-line height, to measure the draft against
    if (t.scrollHeight > t.clientHeight) t.style.height = `${t.scrollHeight + t.offsetHeight - t.clientHeight}px`;
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
      fitBox();
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

