  // Widget part (widget/script.py PARTS): Attachments: picking, uploading, showing.

  // --- Attachments --------------------------------------------------------------------------
  // A file goes up over HTTP first (with a progress bar), then its message goes through the
  // outbox like text: the upload_id and the client_msg_id are the same id, so a retried upload
  // is stored once and a resent message once. docs/attachments.md.

  const ACCEPT = {
    image: "image/*", pdf: ".pdf,application/pdf",
    office: ".doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp", text: ".txt,.csv,text/plain",
    archive: ".zip,.7z,.rar,.gz", media: "audio/*,video/*",
  };
  const attachmentsOn = () => Boolean(boot && boot.attachments && boot.attachments.types.length);
  const acceptList = () => (attachmentsOn() ? boot.attachments.types.map((t) => ACCEPT[t] || "").filter(Boolean).join(",") : "");
  const absolute = (url) => (url ? HOST + url : "");

  function clipIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M21 11.5l-8.6 8.6a5.5 5.5 0 01-7.8-7.8l8.6-8.6a3.7 3.7 0 015.2 5.2l-8.6 8.6a1.8 1.8 0 01-2.6-2.6l7.9-7.9");
    svg.append(path);
    return svg;
  }

  function sizeText(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
    return `${(bytes / 1048576).toFixed(1)} MB`;
  }

  // The thumbnail (opens the viewer) or the named file card (downloads); names are text only.
  function attachmentNode(a) {
    if (a.kind === "image" && (a.thumbnail_url || a.preview)) {
      const img = el("img", { alt: a.name, src: a.preview || absolute(a.thumbnail_url) });
      if (a.width && a.height) {
        const scale = Math.min(1, 220 / a.width, 220 / a.height);
        img.width = Math.max(1, Math.round(a.width * scale));
        img.height = Math.max(1, Math.round(a.height * scale));
      }
      return el("button", { class: "thumb", type: "button", title: S("open_image"),
        "aria-label": `${S("open_image")}: ${a.name}`, onclick: (e) => { e.stopPropagation(); if (a.url) view(a); } }, img);
    }
    const ext = (a.name.split(".").pop() || "").slice(0, 4);
    const card = el("a", { class: "file", title: S("download") },
      el("span", { class: "icon", "aria-hidden": "true", text: ext }),
      el("span", {}, el("span", { class: "fname", text: a.name }), a.size ? el("span", { class: "fsize", text: sizeText(a.size) }) : null));
    if (a.url) {
      card.href = absolute(a.url);
      card.rel = "noopener noreferrer";
      card.target = "_blank";
    }
    return card;
  }

  function view(a) {
    const close = () => { viewer.remove(); ui.panel.removeEventListener("keydown", onKey, true); };
    const onKey = (e) => { if (e.key === "Escape") { e.stopPropagation(); e.preventDefault(); close(); } };
    const viewer = el("div", { class: "viewer", role: "dialog", "aria-label": a.name },
      el("div", { class: "vbar" },
        el("span", { class: "vname", text: a.name }),
        el("a", { href: absolute(a.url) + "?download=1", rel: "noopener noreferrer", text: S("download") }),
        el("button", { class: "x", type: "button", "aria-label": S("close"), text: "×", onclick: close })),
      el("div", { class: "vimg", onclick: (e) => { if (e.target === e.currentTarget) close(); } },
        el("img", { alt: a.name, src: absolute(a.url) })));
    ui.panel.append(viewer);
    ui.panel.addEventListener("keydown", onKey, true);
    viewer.querySelector(".x").focus();
  }

  function sendFiles(files) {
    if (!attachmentsOn()) return;
    if (needTeam() && !team) {
      ui.teams.classList.add("attention");
      ui.teams.querySelector(".label").textContent = S("team_required");
      return;
    }
    for (const file of files) upload(file);
  }

  // One upload: a pending bubble with a progress bar; on success it joins the outbox.
  function upload(file) {
    if (socket.outbox.size >= OUTBOX_LIMIT) return;
    const id = randomId();
    const local = { id: 0, kind: file.type.startsWith("image/") ? "image" : "file", name: file.name || "file", size: file.size };
    if (local.kind === "image") local.preview = URL.createObjectURL(file);
    const li = renderMessage({ sender_kind: "visitor", body: "", created_at: null, attachment: local });
    li.classList.add("pending");
    li.dataset.clientMsgId = id;
    const bar = el("span");
    const progress = el("div", { class: "progress", role: "progressbar", "aria-label": S("uploading"),
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, bar);
    li.querySelector(".bubble").append(progress);
    ui.list.append(li);
    scrollDown();
    const maxBytes = (boot.attachments.max_mb || 10) * 1048576;
    const attempt = () => {
      li.classList.remove("failed");
      li.classList.add("pending");
      const old = li.querySelector(".err");
      if (old) old.remove();
      bar.style.width = "0";
      if (file.size > maxBytes) return uploadFailed(li, SF("too_large", { mb: boot.attachments.max_mb }), attempt);
      const form = new FormData();
      form.append("token", boot.token);
      form.append("upload_id", id);
      form.append("file", file, file.name || "file");
      // XMLHttpRequest, not fetch: only it reports the upload's progress.
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${HOST}/widget/api/attachments?key=${encodeURIComponent(KEY)}`);
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const pct = Math.round((e.loaded / e.total) * 100);
        bar.style.width = pct + "%";
        progress.setAttribute("aria-valuenow", String(pct));
      };
      xhr.onerror = () => uploadFailed(li, "", attempt);
      xhr.onload = () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* described below */ }
        if (xhr.status === 200 || xhr.status === 201) {
          progress.remove();
          if (local.preview) data.preview = local.preview;
          const entry = { body: "", failed: false, t: Date.now(), att: data };
          if (convId === null && team) entry.team = team;
          const persisted = Object.assign({}, entry, { att: Object.assign({}, data, { preview: undefined }) });
          outboxPersist(id, persisted);
          li.remove();
          pending(id, entry);
          scrollDown();
          renderState();
          ui.teams.hidden = true;
          return;
        }
        const errors = data.errors || {};
        const message = (errors.file && errors.file[0]) || data.detail || "";
        if (xhr.status === 400 && data.code === "token_expired") { rebootstrap(); }
        uploadFailed(li, message, attempt, xhr.status === 400 && data.code !== "token_expired");
      };
      xhr.send(form);
    };
    attempt();
  }

  function uploadFailed(li, message, again, final) {
    li.classList.remove("pending");
    li.classList.add("failed");
    const preview = li.querySelector(".thumb img");
    const bar = li.querySelector(".progress");
    if (final && bar) bar.remove();
    if (final && preview) {
      // Not an image after all (the server read the bytes): show it by its name.
      const name = preview.alt;
      li.querySelector(".thumb").replaceWith(attachmentNode({ kind: "file", name, size: 0 }));
    }
    let err = li.querySelector(".err");
    if (!err) { err = el("div", { class: "err", role: "alert" }); li.append(err); }
    // A refused file (too large, wrong type) cannot succeed again: it is removed on a tap.
    // Chinese sentences end in "。" and take no space before the next one.
    const join = (a, b) => (a && b ? a + (/[。！？]$/.test(a) ? "" : " ") + b : a || b);
    err.textContent = final ? join(message, S("dismiss")) : join(S("upload_failed"), message);
    li.querySelector(".bubble").onclick = (e) => {
      e.preventDefault();
      if (final) li.remove(); else again();
    };
    scrollDown();
  }

