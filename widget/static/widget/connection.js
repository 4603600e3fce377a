  // Widget part (widget/script.py PARTS): Typing, page views and the socket: what the visitor sends
  // and each frame received.

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

