  // Widget part (widget/script.py PARTS): The pre-chat form.

  // -- Pre-chat form (widget/prechat.py): the merchant's questions before the first message --

  const prechatPending = () => Boolean(boot.prechat && boot.prechat.length) && convId === null && socket.outbox.size === 0;

  function buildPrechat() {
    if (!(boot.prechat && boot.prechat.length)) return;
    const controls = {};
    const rows = boot.prechat.map((f) => {
      const id = `kefu-pc-${f.key}`;
      const input = el("input", {
        id, type: f.type || "text", maxlength: "200", "aria-describedby": `${id}-err`,
        autocomplete: { name: "name", email: "email", phone: "tel" }[f.key] || "off",
      });
      if (f.required) input.setAttribute("aria-required", "true");
      const err = el("span", { class: "ferr", id: `${id}-err` });
      err.hidden = true;
      controls[f.key] = { input, err };
      return el("label", { for: id }, el("span", { class: "pc-label" }, f.label,
        f.required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : el("span", { class: "opt", text: ` (${S("prechat_optional")})` })),
      input, err);
    });
    const general = el("p", { class: "ferr", role: "alert" });
    general.hidden = true;
    const submitButton = el("button", { class: "submit", type: "submit", text: S("prechat_start") });
    const form = el("form", { class: "prechat", novalidate: "", "aria-labelledby": "kefu-pc-title" },
      el("p", { class: "pc-title", id: "kefu-pc-title", text: S("prechat_intro") }), ...rows, general, submitButton);
    form.addEventListener("submit", (e) => { e.preventDefault(); submitPrechat(); });
    ui.panel.insertBefore(form, ui.count);
    Object.assign(ui, { prechat: form, pcControls: controls, pcGeneral: general, pcSubmit: submitButton });
  }

  function renderPrechat() {
    if (!ui || !ui.prechat) return;
    const show = prechatPending() && !offlineShown();
    ui.prechat.hidden = !show;
    if (show) ui.form.hidden = true;
    else if (!offlineShown()) ui.form.hidden = false;
  }

  async function submitPrechat() {
    const fields = {};
    for (const [key, c] of Object.entries(ui.pcControls)) {
      fields[key] = c.input.value.trim();
      c.err.hidden = true;
      c.input.classList.remove("invalid");
      c.input.removeAttribute("aria-invalid");
    }
    ui.pcGeneral.hidden = true;
    ui.pcSubmit.disabled = true;
    let response = null;
    let data = {};
    try {
      response = await fetch(`${HOST}/widget/api/prechat?key=${encodeURIComponent(KEY)}`, {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no preflight, as bootstrap
        body: JSON.stringify({ token: boot.token, fields }),
        credentials: "omit",
      });
      data = await response.json();
    } catch (e) { /* network failure or not JSON: the general error below */ }
    ui.pcSubmit.disabled = false;
    if (response && response.ok) {
      boot.prechat = [];
      renderPrechat();
      ui.textarea.focus();
      return;
    }
    // Field errors next to each field, as the server wrote them (in the visitor's language).
    const errors = (data && data.errors) || {};
    let first = null;
    for (const [key, c] of Object.entries(ui.pcControls)) {
      if (!errors[key]) continue;
      c.err.textContent = [].concat(errors[key]).join(" ");
      c.err.hidden = false;
      c.input.classList.add("invalid");
      c.input.setAttribute("aria-invalid", "true");
      first = first || c.input;
    }
    if (first) first.focus();
    else {
      ui.pcGeneral.textContent = (data && data.detail) || S("error");
      ui.pcGeneral.hidden = false;
    }
  }

