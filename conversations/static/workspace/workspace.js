/* The agent workspace, the entry module (templates/conversations/workspace.html): queue, inbox,
   open conversation (with its routing timeline, bot and sentiment cues and suggested answers),
   reply box, visitor details, team presence, and notifications (sound, browser notification or
   in-page toast). Native ES modules, served as they are (no build step):

     state.js          what the page was given, its nodes, the state the modules share
     session.js        the agent socket on the shared core (../realtime/socket.js); `resume`
     inbox.js          the conversation list          thread.js   the open conversation
     composer.js       the reply box and typing       routing.js  queue, timeline, actions
     visitor.js        the visitor pane and draft     team.js     presence and viewers
     notifications.js  notice, sound, toasts          assist.js   suggested answers
     api.js            the REST API                   i18n.js, dom.js  words, nodes and times
     quickreplies.js   the "/" picker and the quick-replies dialog
     views.js          inbox views, counts, sort, search   triage.js  snooze and priority
     keys.js           keyboard shortcuts and the "?" overlay
     labels.js         label chips, the header's label picker   profile.js  the customer profile
     live.js           "Visitors now" (proactive invitations) and the supervisor screen
     layout.js         one pane at a time on a phone   labeladmin.js  managing the labels

   The modules import each other's functions (the import graph has cycles: the panes refer to
   one another). That is safe because no module calls into another while it loads: only this
   entry starts anything, after every module is evaluated (session.js builds its socket at load
   from function declarations, which exist before any module runs).

   Data: the REST API for the inbox rows; the agent socket /ws/agent/<merchant>/ for everything
   live and for messages. Visitor and agent text is untrusted: it only ever goes through
   textContent. */

import { setUpAttachments } from "./attachments.js";
import { setNoteMode, submit, agentTyped } from "./composer.js";
import { loadList, loadMore, renderList } from "./inbox.js";
import { renderNotifyControls, setMuted, unlockAudio } from "./notifications.js";
import { claim, openTransfer, renderQueue, setStatus, submitTransfer } from "./routing.js";
import { closePicker, loadQuickReplies, openManager, pickerInput, pickerKeydown, saveReply } from "./quickreplies.js";
import { send, socket } from "./session.js";
import { ui } from "./state.js";
import { renderAgents } from "./team.js";
import { closeConversation, markRead, openConversation } from "./thread.js";
import { wireKeys } from "./keys.js";
import { wireLive } from "./live.js";
import { wireLayout } from "./layout.js";
import { wireLabelAdmin } from "./labeladmin.js";
import { wireTriage } from "./triage.js";
import { restoreViewChoice, wireViews } from "./views.js";

ui.list.addEventListener("click", (event) => {
  const button = event.target.closest("button.conv");
  if (button) openConversation(Number(button.dataset.id));
});
ui.more.addEventListener("click", loadMore);
ui.queueList.addEventListener("click", (event) => {
  const button = event.target.closest("button.claim");
  if (button) { if (!button.disabled) claim(Number(button.dataset.id)); return; }
  // The rest of the entry opens the conversation, to read it before claiming.
  const entry = event.target.closest("li.queue-entry");
  if (entry) openConversation(Number(entry.dataset.id));
});
ui.transfer.addEventListener("click", openTransfer);
ui.resolve.addEventListener("click", setStatus);
ui.transferForm.addEventListener("submit", (event) => { event.preventDefault(); submitTransfer(); });
ui.transferCancel.addEventListener("click", () => { delete ui.dialog.dataset.pending; ui.dialog.close(); });
ui.mute.addEventListener("change", () => setMuted(ui.mute.checked));
ui.notifyEnable.addEventListener("click", async () => {
  // Browsers only ask for permission from a user gesture: this click.
  try { await Notification.requestPermission(); } catch (e) { /* old callback-only API */ }
  renderNotifyControls();
});
document.addEventListener("pointerdown", unlockAudio, { capture: true });
document.addEventListener("keydown", unlockAudio, { capture: true });
setInterval(renderQueue, 30000); // the waiting times move on
ui.close.addEventListener("click", closeConversation);
ui.form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
setUpAttachments();
ui.body.addEventListener("input", () => { pickerInput(); agentTyped(); });
ui.body.addEventListener("blur", closePicker);
ui.body.addEventListener("keydown", (event) => {
  if (pickerKeydown(event)) return; // the picker's arrows, Enter, Tab and Esc
  // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition does not send.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    submit();
  }
});
ui.tabReply.addEventListener("click", () => { setNoteMode(false); ui.body.focus(); });
ui.tabNote.addEventListener("click", () => { setNoteMode(true); ui.body.focus(); });
ui.myStatus.addEventListener("change", () => {
  if (socket.ready) send({ type: "presence.set", status: ui.myStatus.value });
  else renderAgents(); // cannot switch while offline: show what the server last said
});
document.addEventListener("visibilitychange", markRead);
window.addEventListener("online", socket.online);

ui.qrOpen.addEventListener("click", openManager);
ui.qrManage.addEventListener("click", openManager); // also with no conversation open
ui.qrClose.addEventListener("click", () => ui.qrDialog.close());
ui.qrForm.addEventListener("submit", (event) => { event.preventDefault(); saveReply(); });

wireViews();
wireTriage();
wireKeys();
wireLive();
wireLayout();
wireLabelAdmin();
setInterval(renderList, 30000); // the waiting times move on

renderNotifyControls();
restoreViewChoice();
loadQuickReplies();
socket.connect();
loadList();
const fromHash = /^#c(\d+)$/.exec(location.hash);
if (fromHash) openConversation(Number(fromHash[1]));
