  // Widget part (widget/script.py PARTS): The start: bootstrap, build the panel, connect.

  // --- Start --------------------------------------------------------------------------------

  window.Kefu = { loaded: true, open, close, toggle };

  async function start() {
    for (let attempt = 0; ; attempt++) {
      try {
        boot = await bootstrap();
        break;
      } catch (err) {
        if (!err.retry) {
          console.error(`[kefu] widget disabled: ${err.message}`);
          return;
        }
        // The server may be restarting: keep trying (slowly). Messages written before a
        // reload wait in localStorage meanwhile.
        if (attempt === 4) console.error(`[kefu] widget disabled until the server answers: ${err.message}`);
        await sleep(Math.max(backoff(attempt), err.waitMs || 0));
      }
    }
    storageSet("localStorage", "anon", boot.anonymous_id);
    if (boot.attribute_errors) console.warn("[kefu] data-user-attributes refused:", boot.attribute_errors);
    if (boot.identity_notice === "unsigned_fields_ignored") {
      console.warn("[kefu] data-user-hash signs data-user-id only: name, e-mail, phone and attributes " +
        "were ignored. Sign every field (docs/widget.md, \"Signed-in users\") to have them shown.");
    }
    buildUi();
    if (boot.blocked) showClosed();
    restoreOutbox();
    watchPage();
    socket.connect();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible") return;
      flashStop();
      if (isOpen) markRead();
    });
    window.addEventListener("online", socket.online);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
