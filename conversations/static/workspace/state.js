/* What the page was given (data- attributes of #workspace), its nodes, and the state the
   modules share. State that one module alone uses lives in that module. */

export const root = document.getElementById("workspace");
export const MERCHANT = Number(root.dataset.merchantId);
export const MY_ID = Number(root.dataset.userId);
export const DISPLAY_NAME = root.dataset.displayName;
export const MERCHANT_NAME = root.dataset.merchantName;
export const IS_MANAGER = root.dataset.isManager === "1"; // owner or admin: shared quick replies
export const LOGIN_URL = root.dataset.loginUrl;
// Waiting-time colours of the inbox rows (Merchant.wait_warn_seconds / wait_alert_seconds).
export const WAIT_WARN = Number(root.dataset.waitWarn) || 120;
export const WAIT_ALERT = Number(root.dataset.waitAlert) || 300;
export const API = "/api/v1";
export const $ = (id) => document.getElementById(id);

export const ui = {
  conn: $("conn"), notice: $("notice"), list: $("conv-list"), listEmpty: $("conv-empty"),
  more: $("conv-more"), thread: $("thread"), threadEmpty: $("thread-empty"),
  title: $("thread-title"), status: $("thread-status"), online: $("thread-online"),
  close: $("thread-close"), viewers: $("viewers"), loading: $("thread-loading"),
  messages: $("messages"), typing: $("visitor-typing"), draft: $("visitor-draft"),
  form: $("reply"), body: $("reply-body"), tabReply: $("reply-tab-reply"), tabNote: $("reply-tab-note"),
  noteHint: $("note-hint"), sendButton: $("reply-send"),
  qrPicker: $("qr-picker"), qrList: $("qr-list"), qrOpen: $("qr-open"), qrManage: $("qr-manage"), qrDialog: $("qr-dialog"),
  qrRows: $("qr-rows"), qrEmpty: $("qr-empty"), qrForm: $("qr-form"), qrShortcut: $("qr-shortcut"),
  qrTitle: $("qr-title"), qrText: $("qr-text"), qrPersonal: $("qr-personal"),
  qrPersonalRow: $("qr-personal-row"), qrSave: $("qr-save"), qrClose: $("qr-close"),
  qrError: $("qr-error"), qrShortcutError: $("qr-shortcut-error"), qrTitleError: $("qr-title-error"),
  qrTextError: $("qr-text-error"),
  visitorEmpty: $("visitor-empty"), visitorInfo: $("visitor-info"),
  agents: $("agent-list"), myStatus: $("my-status"),
  mineCount: $("mine-count"), queueList: $("queue-list"), queueEmpty: $("queue-empty"), queueCount: $("queue-count"),
  assignee: $("thread-assignee"), bot: $("thread-bot"), handed: $("thread-handed"),
  intent: $("thread-intent"), rating: $("thread-rating"), trend: $("thread-trend"), transfer: $("thread-transfer"),
  resolve: $("thread-resolve"), assist: $("assist"), assistList: $("assist-list"),
  toasts: $("toasts"), mute: $("notify-mute"), notifyEnable: $("notify-enable"),
  dialog: $("transfer-dialog"), transferForm: $("transfer-form"),
  transferTarget: $("transfer-target"), transferAgents: $("transfer-agents"),
  transferTeams: $("transfer-teams"), transferNote: $("transfer-note"),
  transferError: $("transfer-error"), transferCancel: $("transfer-cancel"),
  // Views, search, snooze, priority, keyboard (views.js, triage.js, keys.js)
  views: $("views"), viewTeam: $("view-team"), viewSort: $("view-sort"),
  searchForm: $("search-form"), searchQ: $("search-q"), searchResults: $("search-results"),
  searchStatus: $("search-status"), searchConvs: $("search-convs"), searchHits: $("search-hits"),
  searchMore: $("search-more"),
  snoozed: $("thread-snoozed"), priority: $("thread-priority"), snooze: $("thread-snooze"),
  snoozeDialog: $("snooze-dialog"), snoozeForm: $("snooze-form"), snoozeUntil: $("snooze-until"),
  snoozeError: $("snooze-error"), snoozeCancel: $("snooze-cancel"),
  keysDialog: $("keys-dialog"), keysOpen: $("keys-open"), keysClose: $("keys-close"),
};

export const state = {
  openId: null,                  // the conversation shown in the middle pane
  note: false,                   // the composer writes a private note (Note tab) instead of a reply
  view: "all",                   // the inbox view ("all" or selectors.INBOX_VIEWS), team, sort
  team: null,
  sort: "newest",
  focus: null,                   // {id, seq, ranges}: a search hit to show in the thread
};
export const conversations = new Map(); // id -> ConversationOut (inbox rows)
// id -> {messages: SeqMap seq -> MessageOut, events, loaded}: conversations whose messages the
// page holds, most recently opened last. messages.upTo is the highest seq with no gap below it:
// agents see every message (notes too), so any gap is a delivery that went missing.
export const threads = new Map();
export const shown = new Map();         // seq -> <li> of the open conversation
export const readSent = new Map();      // conversation id -> highest seq marked read on this socket
export const visitorRead = new Map();   // conversation id -> highest seq the visitor has read
export const drafts = new Map();        // conversation id -> {text, timer}: the visitor's live draft
export const viewers = new Map();       // conversation id -> other agents who have it open
export const agents = new Map();        // user id -> AgentOut
export const teams = new Map();         // team id -> TeamOut
