/* The phone layout (docs/desk.md, "On a phone"): under the narrow breakpoint of workspace.css
   one pane shows at a time, said by #workspace[data-pane]: the inbox, the open conversation,
   or the customer (visitor) pane. Opening a conversation shows it; its header's back button
   closes it (back to the inbox) and its "Customer" button shows the visitor pane, whose own back
   button returns to the conversation. On a wide screen the attribute changes nothing.

   The thread's `hidden` attribute already says whether a conversation is open (thread.js sets
   it when opening and closing), so this module follows it instead of hooking those functions. */

import { root, ui } from "./state.js";
import { closeConversation } from "./thread.js";

// The narrow breakpoint of workspace.css (also read by notifications.js).
export const NARROW = window.matchMedia("(max-width: 700px)");

function show(pane) {
  root.dataset.pane = pane;
  // A pane that becomes visible starts at its top, not where the hidden one was scrolled to.
  if (pane === "visitor") document.querySelector(".visitor").scrollTop = 0;
}

function follow() {
  if (ui.thread.hidden) show("inbox");
  else if (root.dataset.pane === "inbox") show("thread");
}

export function wireLayout() {
  new MutationObserver(follow).observe(ui.thread, { attributes: true, attributeFilter: ["hidden"] });
  follow();
  document.getElementById("thread-back").addEventListener("click", closeConversation);
  document.getElementById("thread-customer").addEventListener("click", () => show("visitor"));
  document.getElementById("visitor-back").addEventListener("click", () => {
    show("thread");
    if (NARROW.matches) document.getElementById("thread-customer").focus();
  });
  // Widened while the customer pane was the one shown: all three are side by side again.
  NARROW.addEventListener("change", () => { if (!NARROW.matches && root.dataset.pane === "visitor") show("thread"); });
}
