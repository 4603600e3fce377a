  // Widget part (widget/script.py PARTS): The thread: messages, read ticks, agent typing, opening
  // and closing the panel.

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

