  // Widget part (widget/script.py PARTS): The transcript by e-mail.

  // -- Transcript by e-mail (widget/transcript.py): a header button opens a one-field form --

  function mailIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    for (const d of ["M3 6h18v12H3z", "M3 7l9 6 9-6"]) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  function buildTranscript() {
    const open = el("button", {
      class: "mail", type: "button", "aria-label": S("transcript"), title: S("transcript"),
      "aria-expanded": "false", "aria-controls": "kefu-transcript", onclick: () => toggleTranscript(),
    }, mailIcon());
    const header = ui.panel.querySelector("header");
    header.insertBefore(open, ui.sound);
    const input = el("input", { type: "email", autocomplete: "email", maxlength: "254", "aria-label": S("transcript_email"), placeholder: S("transcript_email") });
    const err = el("p", { class: "tr-msg", role: "status" });
    err.hidden = true;
    // Not a <form>: the panel's one form is the message box (pages and tests find it so).
    const send = el("button", { class: "tr-send", type: "button", text: S("transcript_send"), onclick: sendTranscript });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); sendTranscript(); }
    });
    const form = el("div", { class: "transcript", id: "kefu-transcript", role: "group", "aria-labelledby": "kefu-tr-title" },
      el("p", { class: "tr-label", id: "kefu-tr-title", text: S("transcript") }), el("div", { class: "tr-row" }, input, send), err);
    form.hidden = true;
    ui.panel.insertBefore(form, ui.list);
    Object.assign(ui, { mail: open, transcript: form, trInput: input, trMsg: err, trSend: send });
    renderTranscriptButton();
  }

  function renderTranscriptButton() {
    if (!ui || !ui.mail) return;
    ui.mail.hidden = convId === null; // nothing to send before the first message
    if (ui.mail.hidden) toggleTranscript(false);
  }

  function toggleTranscript(on) {
    if (!ui.transcript) return;
    const show = on === undefined ? ui.transcript.hidden : on;
    ui.transcript.hidden = !show;
    ui.mail.setAttribute("aria-expanded", String(show));
    if (show) { ui.trMsg.hidden = true; ui.trInput.focus(); }
  }

  async function sendTranscript() {
    ui.trSend.disabled = true;
    let response = null;
    let data = {};
    try {
      response = await fetch(`${HOST}/widget/api/transcript?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no preflight, as bootstrap
        body: JSON.stringify({ token: boot.token, email: ui.trInput.value.trim() }),
        credentials: "omit",
      });
      data = await response.json();
    } catch (e) { /* network failure or not JSON: the general error below */ }
    ui.trSend.disabled = false;
    const ok = Boolean(response && response.ok);
    const fieldError = data && data.errors && (data.errors.email || data.errors.token);
    ui.trMsg.textContent = (fieldError && [].concat(fieldError).join(" ")) || (data && data.detail) || S("error");
    ui.trMsg.classList.toggle("bad", !ok);
    ui.trInput.classList.toggle("invalid", !ok && Boolean(data && data.errors && data.errors.email));
    ui.trMsg.hidden = false;
  }

