  // Widget part (widget/script.py PARTS): The widget's state, the English fallbacks of its UI
  // strings, the stored outbox.

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

