  // Widget part (widget/script.py PARTS): The leave-a-message form (nobody available).

  // --- Leave a message (nobody available) ---------------------------------------------------

  function buildOfflineForm() {
    const field = (name, control) => {
      const err = el("span", { class: "ferr", role: "alert" });
      err.hidden = true;
      control.name = name;
      return { label: el("label", {}, S("offline_" + name), control, err), control, err };
    };
    const fields = {
      name: field("name", el("input", { type: "text", maxlength: "100", autocomplete: "name" })),
      contact: field("contact", el("input", { type: "text", maxlength: "200", autocomplete: "email" })),
      // No maxlength here either: the server says "too long" next to the field instead.
      message: field("message", el("textarea", {})),
    };
    const a = availability();
    const next = a.next_opening
      ? el("p", { class: "next", text: SF("offline_next", { when: openingText(a.next_opening) }) })
      : null;
    const general = el("p", { class: "ferr general", role: "alert" });
    general.hidden = true;
    const submitButton = el("button", { class: "submit", type: "submit", text: S("offline_submit") });
    const form = el("form", { class: "offline-fields", novalidate: "" },
      ...Object.values(fields).map((f) => f.label), general, submitButton);
    const done = el("p", { class: "done", role: "status" });
    done.hidden = true;
    const back = el("button", { class: "link to-chat", type: "button", text: S("offline_chat"), onclick: () => showOffline(false) });
    const intro = S(a.open === false ? "offline_closed" : "offline_intro");
    const root = el("div", { class: "offline" }, el("p", { class: "intro", text: intro }), next, form, done, back);
    form.addEventListener("submit", (e) => { e.preventDefault(); submitOffline(); });
    // One id per message left: a retry after a lost answer is stored once.
    return { root, form, fields, general, done, submitButton, id: randomId() };
  }

  const offlineShown = () => Boolean(ui.offline && !ui.offline.root.hidden);

  // The form is built the first time it is shown: most visitors never need it.
  function showOffline(on) {
    if (on && !ui.offline) {
      ui.offline = buildOfflineForm();
      ui.panel.insertBefore(ui.offline.root, ui.form);
    }
    for (const part of [ui.list, ui.form]) part.hidden = on;
    if (ui.offline) ui.offline.root.hidden = !on;
    if (on) ui.typing.hidden = true;
    renderTeams();
    renderConversationState();
    if (!on) scrollDown();
  }

  async function submitOffline() {
    const o = ui.offline;
    const payload = { token: boot.token, client_msg_id: o.id };
    for (const [name, f] of Object.entries(o.fields)) {
      payload[name] = f.control.value.trim();
      f.err.hidden = true;
      f.control.classList.remove("invalid");
    }
    o.general.hidden = true;
    o.submitButton.disabled = true;
    o.submitButton.textContent = S("offline_sending");
    let response = null;
    let data = {};
    try {
      response = await fetch(`${HOST}/widget/api/offline?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no preflight, as bootstrap
        body: JSON.stringify(payload),
        credentials: "omit",
      });
      data = await response.json();
    } catch (e) { /* network failure or not JSON: the general error below */ }
    o.submitButton.disabled = false;
    o.submitButton.textContent = S("offline_submit");
    if (response && response.ok) {
      o.form.hidden = true;
      o.done.textContent = data.detail || "";
      o.done.hidden = false;
      return;
    }
    // Field errors from a 400: {errors: {field: ["..."]}} next to each field.
    const errors = (data && (data.errors || data.fields)) || {};
    let shown = false;
    for (const [name, f] of Object.entries(o.fields)) {
      const msg = errors[name];
      if (!msg) continue;
      f.err.textContent = Array.isArray(msg) ? msg.join(" ") : String(msg);
      f.err.hidden = false;
      f.control.classList.add("invalid");
      if (!shown) f.control.focus();
      shown = true;
    }
    if (!shown) {
      o.general.textContent = (data && data.detail) || S("error");
      o.general.hidden = false;
    }
  }

