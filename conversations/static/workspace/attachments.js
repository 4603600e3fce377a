/* Sending images and files: the clip button, files dropped on the thread, a screenshot pasted
   into the reply box. Each file goes up over HTTP first (POST .../attachments/, with a progress
   bar), then its message goes through the socket core's outbox like a typed reply; the upload_id
   and the client_msg_id are one id, so a retried upload is stored once and a resent message
   once (docs/attachments.md). */

import { el, randomId } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { socket } from "./session.js";
import { API, DISPLAY_NAME, MERCHANT, state, ui } from "./state.js";
import { renderMessage, scrollDown } from "./thread.js";

export function setUpAttachments() {
  const input = document.getElementById("reply-file");
  document.getElementById("reply-attach").addEventListener("click", () => input.click());
  input.addEventListener("change", () => { sendFiles([...input.files]); input.value = ""; });
  ui.body.addEventListener("paste", (event) => {
    const files = [...((event.clipboardData && event.clipboardData.files) || [])];
    if (files.length) { event.preventDefault(); sendFiles(files); }
  });
  let depth = 0;
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  ui.thread.addEventListener("dragenter", (event) => {
    if (hasFiles(event)) { depth += 1; ui.thread.classList.add("dropping"); }
  });
  ui.thread.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) ui.thread.classList.remove("dropping");
  });
  ui.thread.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
  ui.thread.addEventListener("drop", (event) => {
    depth = 0;
    ui.thread.classList.remove("dropping");
    if (!hasFiles(event)) return;
    event.preventDefault();
    sendFiles([...event.dataTransfer.files]);
  });
}

export function sendFiles(files) {
  if (state.openId === null) return;
  for (const file of files) upload(file, state.openId, state.note);
}

function upload(file, conversationId, note) {
  const id = randomId();
  const local = { id: 0, kind: file.type.startsWith("image/") ? "image" : "file", name: file.name || "file", size: file.size };
  if (local.kind === "image") local.preview = URL.createObjectURL(file);
  const li = renderMessage({ sender_kind: "agent", sender_name: DISPLAY_NAME, body: "", private: note, attachment: local });
  li.classList.add("pending");
  li.dataset.clientMsgId = id;
  li.querySelector(".when").textContent = gettext("Uploading…");
  const bar = el("span");
  const progress = el("div", { class: "att-progress", role: "progressbar", "aria-label": gettext("Uploading…"),
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, bar);
  li.append(progress);
  ui.messages.append(li);
  scrollDown(true);
  const attempt = () => {
    const old = li.querySelector(".err");
    if (old) old.remove();
    li.classList.replace("failed", "pending");
    li.querySelector(".when").textContent = gettext("Uploading…");
    const form = new FormData();
    form.append("upload_id", id);
    form.append("file", file, file.name || "file");
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    // XMLHttpRequest, not fetch: only it reports the upload's progress.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/conversations/${conversationId}/attachments/`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-Kefu-Merchant", String(MERCHANT));
    xhr.setRequestHeader("X-CSRFToken", token ? token.value : "");
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      const pct = Math.round((event.loaded / event.total) * 100);
      bar.style.width = `${pct}%`;
      progress.setAttribute("aria-valuenow", String(pct));
    };
    xhr.onerror = () => failed(li, "", attempt, false);
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* described below */ }
      if (xhr.status !== 200 && xhr.status !== 201) {
        const message = (data.file && data.file[0]) || data.detail || `HTTP ${xhr.status}`;
        failed(li, message, attempt, xhr.status === 400 || xhr.status === 404);
        return;
      }
      progress.remove();
      li.querySelector(".when").textContent = gettext("Sending…");
      const frame = { type: "message.send", conversation_id: conversationId, client_msg_id: id, body: "", private: note, attachment_id: data.id };
      socket.queue(id, { frame, li, failed: false }); // the socket core sends, resends and settles it
    };
    xhr.send(form);
  };
  attempt();
}

function failed(li, message, again, final) {
  li.classList.replace("pending", "failed");
  li.querySelector(".when").textContent = "";
  // A refused file (too large, a type the merchant does not take) will not pass on a retry.
  const action = el("button", { type: "button", class: "link retry", text: final ? gettext("Remove") : gettext("Retry") });
  action.addEventListener("click", () => (final ? li.remove() : again()));
  li.append(el("div", { class: "err", role: "alert" }, fmt(gettext("Not sent: %s"), [message]) + " ", action));
}
