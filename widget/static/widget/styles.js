  // Widget part (widget/script.py PARTS): The panel's stylesheet (inside its Shadow DOM root).

  // --- UI -----------------------------------------------------------------------------------

  const CSS = `
    :host { all: initial; }
    .kf { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; color: #1f2328;
      font: 14px/1.45 system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; }
    [hidden] { display: none !important; }
    button { font: inherit; }
    .launcher { position: relative; width: 56px; height: 56px; border: 0; border-radius: 50%;
      background: #2563eb; color: #fff; cursor: pointer; display: flex; align-items: center;
      justify-content: center; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .launcher:hover { background: #1d4ed8; }
    .launcher svg { width: 26px; height: 26px; fill: currentColor; }
    .badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px;
      padding: 0 6px; box-sizing: border-box; border-radius: 10px; background: #dc2626;
      color: #fff; font-size: 12px; line-height: 20px; text-align: center; }
    .panel { position: absolute; right: 0; bottom: 72px; width: 360px; height: 520px;
      max-width: calc(100vw - 40px); max-height: calc(100vh - 110px); background: #fff;
      border-radius: 12px; box-shadow: 0 10px 40px rgba(0,0,0,.25); display: flex;
      flex-direction: column; overflow: hidden; }
    header { background: #2563eb; color: #fff; padding: 12px 14px; display: flex;
      align-items: center; gap: 8px; }
    header .name { flex: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis;
      white-space: nowrap; }
    header .x { background: none; border: 0; color: inherit; font-size: 22px; line-height: 1;
      cursor: pointer; padding: 0 4px; }
    /* The one status line (renderStatus): connection, queue, agent, or availability. */
    .status { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; font-size: 12.5px;
      padding: 6px 14px; background: #f8fafc; color: #334155; border-bottom: 1px solid #e5e7eb; }
    .status .dot { width: 8px; height: 8px; border-radius: 50%; background: #94a3b8; flex: none; }
    .status[data-state=online] .dot, .status[data-state=served] .dot { background: #16a34a; }
    .status[data-state=away] .dot { background: #d97706; }
    .status[data-state=queued] { background: #eff6ff; color: #1e40af; }
    .status[data-state=queued] .dot { background: #2563eb; }
    .status.conn { background: #fef3c7; color: #92400e; }
    .status.conn .dot { background: #d97706; }
    .status .status-text { flex: 1 1 auto; min-width: 0; }
    .status .link { font-size: 12.5px; color: #1d4ed8; }
    .list { flex: 1; overflow-y: auto; margin: 0; padding: 12px; list-style: none;
      background: #f6f7f9; }
    .msg { display: flex; flex-direction: column; align-items: flex-start; margin: 8px 0; }
    .msg.mine { align-items: flex-end; }
    .meta { font-size: 11px; color: #6b7280; margin: 0 4px 2px; }
    .tick { margin-left: 6px; color: #2563eb; }
    .typing { font-size: 12px; color: #6b7280; padding: 2px 14px 4px; background: #f6f7f9;
      font-style: italic; }
    .bubble { max-width: 80%; padding: 8px 11px; border-radius: 12px; background: #fff;
      border: 1px solid #e5e7eb; white-space: pre-wrap; overflow-wrap: anywhere; }
    .mine .bubble { background: #2563eb; border-color: #2563eb; color: #fff; }
    .welcome .bubble { background: #eef2ff; border-color: #c7d2fe; }
    .pending .bubble { opacity: .6; }
    .failed .bubble { background: #fee2e2; border-color: #fca5a5; color: #991b1b; cursor: pointer; }
    .err { font-size: 11px; color: #b91c1c; margin: 2px 4px 0; }
    .count { font-size: 12px; color: #4b5563; padding: 4px 12px 0; background: #fff;
      border-top: 1px solid #e5e7eb; text-align: right; }
    .count:not([hidden]) + form { border-top: 0; }
    .count.over { color: #b91c1c; font-weight: 600; }
    form button:disabled { background: #9ca3af; cursor: not-allowed; }
    .bubble a { color: inherit; text-decoration: underline; }
    form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }
    textarea { flex: 1; height: 42px; resize: none; box-sizing: border-box; padding: 9px 10px;
      border: 1px solid #d1d5db; border-radius: 8px; font: inherit; color: inherit; }
    /* The message box grows with the draft (fitBox) up to five lines or so, then scrolls; Send
       keeps its one-line height at its foot. Its line is 22 px (after the font
       shorthand, which resets it): one line and the padding are the 42 px it starts at (Noto
       CJK's own line height at 16 px overflowed it by a pixel, and it grew for nothing). The
       offline and pre-chat forms are columns, and keep their own layout. The row of tools
       takes the form's first line (flex-basis 100 %), pulled 4 px up and left so that the
       icons, inset in their 34 px buttons, line up with the box's text. min-width 0: a long
       word in the box must not push Send onto a line of its own. */
    .composer { align-items: flex-end; flex-wrap: wrap; row-gap: 4px; }
    .composer > button { height: 42px; }
    .tools { flex-basis: 100%; display: flex; gap: 2px; margin: -4px 0 0 -4px; }
    .tools button { flex: none; width: 34px; height: 34px; border: 0; border-radius: 6px;
      background: none; color: #4b5563; cursor: pointer; display: flex; align-items: center;
      justify-content: center; padding: 0; }
    .tools button:hover { background: #f3f4f6; }
    .composer textarea { max-height: 132px; overflow-y: auto; line-height: 22px; min-width: 0; }
    textarea:focus { outline: 2px solid #93c5fd; border-color: #2563eb; }
    form button { border: 0; border-radius: 8px; background: #2563eb; color: #fff;
      padding: 0 16px; cursor: pointer; }
    .bot .bubble { background: #f5f3ff; border-color: #ddd6fe; }
    .choices { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; max-width: 90%; }
    .choice, .team, .handover, .link { border: 1px solid #2563eb; background: #fff; color: #2563eb;
      border-radius: 14px; padding: 3px 12px; cursor: pointer; font-size: 13px; }
    .choice:hover, .team:hover, .handover:hover { background: #eff6ff; }
    .choice:disabled { opacity: .5; cursor: default; }
    .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 6px 10px;
      border-top: 1px solid #e5e7eb; background: #fff; font-size: 13px; }
    .bar .label { width: 100%; color: #374151; }
    .team.chosen { background: #2563eb; color: #fff; }
    .bar.attention .label { color: #b91c1c; }
    .closed { margin: 0; padding: 14px 16px; border-top: 1px solid #e5e7eb; color: #4b5563; text-align: center; font-size: 14px; }
    .offline { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column;
      gap: 8px; border-top: 0; background: #fff; }
    .offline p { margin: 0; }
    .offline form { flex-direction: column; padding: 0; border: 0; }
    .offline label { display: flex; flex-direction: column; gap: 3px; font-size: 13px;
      color: #374151; }
    .offline input, .offline textarea { font: inherit; padding: 7px 9px; border: 1px solid #d1d5db;
      border-radius: 8px; height: auto; flex: none; }
    .offline textarea { min-height: 90px; resize: vertical; }
    .offline .invalid { border-color: #dc2626; }
    .offline .ferr { color: #b91c1c; font-size: 12px; }
    .offline .submit { border: 0; border-radius: 8px; background: #2563eb; color: #fff;
      padding: 8px 16px; cursor: pointer; align-self: flex-start; }
    .offline .done { background: #ecfdf5; border: 1px solid #a7f3d0; color: #065f46;
      padding: 10px 12px; border-radius: 8px; white-space: pre-wrap; }
    .link { border: 0; padding: 0; background: none; text-decoration: underline;
      align-self: flex-start; border-radius: 0; }
    /* Attachments: the clip button, uploads in progress, thumbnails, file cards, the viewer. */
    .attach svg { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2;
      stroke-linecap: round; stroke-linejoin: round; }
    .panel.dropping::after { content: attr(data-drop); position: absolute; inset: 8px;
      border: 2px dashed #2563eb; border-radius: 10px; background: rgba(239,246,255,.92);
      color: #1e40af; display: flex; align-items: center; justify-content: center;
      font-weight: 600; pointer-events: none; }
    .bubble.has-att { padding: 4px; white-space: normal; }
    .bubble .cap { display: block; padding: 4px 7px 3px; white-space: pre-wrap; }
    .thumb { display: block; border: 0; padding: 0; background: #e5e7eb; border-radius: 9px;
      cursor: zoom-in; overflow: hidden; max-width: 220px; }
    .thumb img { display: block; max-width: 220px; max-height: 220px; width: auto; height: auto; }
    .bubble a.file { display: flex; align-items: center; gap: 9px; padding: 7px 9px; min-width: 180px;
      max-width: 240px; color: inherit; text-decoration: none; border-radius: 9px; }
    .bubble a.file:hover .fname { text-decoration: underline; }
    .mine .file { color: #fff; }
    .file .icon { flex: none; width: 34px; height: 40px; border-radius: 5px; background: #dbeafe;
      color: #1e40af; font-size: 10px; font-weight: 700; display: flex; align-items: center;
      justify-content: center; text-transform: uppercase; }
    .file .fname { display: block; font-weight: 600; overflow-wrap: anywhere; line-height: 1.3; }
    .file .fsize { display: block; font-size: 11.5px; opacity: .8; }
    .progress { height: 4px; margin: 5px 7px 3px; background: rgba(0,0,0,.12); border-radius: 2px;
      overflow: hidden; }
    .progress span { display: block; height: 100%; width: 0; background: #16a34a;
      transition: width .15s; }
    .mine .progress { background: rgba(255,255,255,.35); }
    .mine .progress span { background: #fff; }
    .viewer { position: absolute; inset: 0; background: rgba(15,23,42,.92); display: flex;
      flex-direction: column; z-index: 2; }
    .viewer .vbar { display: flex; gap: 10px; align-items: center; padding: 10px 12px; color: #fff; }
    .viewer .vname { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .viewer a, .viewer button { color: #fff; background: none; border: 0; cursor: pointer;
      font-size: 13px; }
    .viewer .x { font-size: 24px; line-height: 1; }
    .viewer .vimg { flex: 1; display: flex; align-items: center; justify-content: center;
      min-height: 0; padding: 8px; }
    .viewer img { max-width: 100%; max-height: 100%; object-fit: contain; }
    /* Rating card, agent avatar, system lines, emoji picker, sound switch (buildExtras).
       Colours measured against their backgrounds in docs/widget.md (WCAG AA). */
    header .avatar { width: 30px; height: 30px; flex: none; border-radius: 50%; background: #fff;
      color: #1e40af; font-weight: 700; display: flex; align-items: center; justify-content: center; }
    header .sound { background: none; border: 0; color: inherit; cursor: pointer; padding: 4px;
      border-radius: 6px; display: flex; }
    header .mail { background: none; border: 0; color: inherit; cursor: pointer; padding: 4px;
      border-radius: 6px; display: flex; }
    header .mail svg { width: 20px; height: 20px; fill: none; stroke: currentColor;
      stroke-width: 1.8; stroke-linejoin: round; }
    .prechat { display: flex; flex-direction: column; gap: 8px; padding: 12px 14px;
      border-top: 1px solid #e5e7eb; background: #fff; overflow-y: auto; max-height: 70%; }
    .prechat p { margin: 0; }
    .prechat .pc-title { font-weight: 600; }
    .prechat label { display: flex; flex-direction: column; gap: 3px; font-size: 13px; color: #374151; }
    .prechat .opt { color: #4b5563; font-weight: 400; }
    .prechat .req { color: #b91c1c; }
    .prechat input { font: inherit; padding: 7px 9px; border: 1px solid #6b7280; border-radius: 8px;
      color: inherit; }
    .prechat input:focus, .tr-row input:focus { outline: 2px solid #93c5fd; border-color: #2563eb; }
    .prechat input.invalid { border-color: #b91c1c; }
    .prechat .ferr { color: #b91c1c; font-size: 12px; }
    .prechat .submit { border: 0; border-radius: 8px; background: #2563eb; color: #fff;
      padding: 9px 16px; cursor: pointer; align-self: stretch; }
    @media (max-width: 480px) {
      .prechat input, .tr-row input, .rate textarea { font-size: 16px; } /* no zoom on focus */
    }
    .transcript { display: flex; flex-direction: column; gap: 6px; padding: 10px 12px;
      border-top: 0; border-bottom: 1px solid #e5e7eb; background: #fff; }
    .transcript p { margin: 0; }
    .tr-label { font-size: 13px; font-weight: 600; }
    .tr-row { display: flex; gap: 8px; }
    .tr-row input { flex: 1; min-width: 0; font: inherit; padding: 7px 9px; border: 1px solid #6b7280;
      border-radius: 8px; color: inherit; }
    .tr-row input.invalid { border-color: #b91c1c; }
    .tr-send { border: 0; font: inherit; border-radius: 8px; background: #2563eb; color: #fff; padding: 0 14px;
      cursor: pointer; }
    .tr-msg { margin: 0; font-size: 12.5px; color: #065f46; }
    .tr-msg.bad { color: #b91c1c; }
    header .sound svg { width: 20px; height: 20px; fill: none; stroke: currentColor;
      stroke-width: 1.8; stroke-linecap: round; stroke-linejoin: round; }
    header button:focus-visible { outline: 2px solid #fff; outline-offset: 1px; }
    .sys { align-items: center; }
    .sysline { font-size: 12px; color: #4b5563; background: #eceef2; border-radius: 10px;
      padding: 3px 10px; max-width: 90%; text-align: center; }
    .rate { padding: 10px 12px; border-top: 1px solid #e5e7eb; background: #fff; display: flex;
      flex-direction: column; gap: 8px; }
    .rate p { margin: 0; }
    .rate-title { font-weight: 600; }
    .rate-options { display: flex; gap: 6px; flex-wrap: wrap; }
    .rate-options button { cursor: pointer; font: inherit; -webkit-tap-highlight-color: transparent; }
    .rate-options.stars button { border: 0; background: none; color: #6b7280; font-size: 28px;
      line-height: 1; padding: 2px 3px; }
    .rate-options.stars button.on { color: #d97706; }
    .rate-options.stars button:hover { color: #d97706; }
    .rate-options.faces button { border: 1px solid #2563eb; background: #fff; color: #1d4ed8;
      border-radius: 16px; padding: 4px 12px; }
    .rate-options.faces button.on { background: #2563eb; color: #fff; }
    .rate-options button:focus-visible, .em:focus-visible, .tools button:focus-visible,
    .rate-send:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
    .rate textarea { flex: none; height: auto; min-height: 52px; width: 100%; resize: vertical; }
    .rate-err { color: #b91c1c; font-size: 12.5px; }
    .rate-actions { display: flex; align-items: center; gap: 14px; }
    .rate-send { border: 0; border-radius: 8px; background: #2563eb; color: #fff; padding: 7px 16px;
      cursor: pointer; }
    .rate-send:disabled { background: #6b7280; }
    .rate-actions .link { align-self: center; color: #1d4ed8; }
    .rate-thanks { color: #065f46; background: #ecfdf5; border: 1px solid #a7f3d0; border-radius: 8px;
      padding: 8px 10px; }
    .tools .emoji-open { font-size: 21px; line-height: 1; }
    .tools .emoji-open[aria-expanded=true] { background: #eff6ff; color: #1d4ed8; }
    .emoji { display: grid; grid-template-columns: repeat(8, 1fr); gap: 2px; padding: 8px;
      border-top: 1px solid #e5e7eb; background: #fff; }
    .em, .rate-options.faces button { font-family: "Apple Color Emoji", "Segoe UI Emoji",
      "Noto Color Emoji", system-ui, sans-serif; }
    .em { border: 0; background: none; font-size: 22px; line-height: 1; padding: 6px 0;
      border-radius: 6px; cursor: pointer; }
    .em:hover { background: #eff6ff; }
    @media (max-width: 480px) {
      .panel { position: fixed; inset: 0; width: auto; height: auto; max-width: none;
        max-height: none; border-radius: 0; }
      /* The panel fills the screen and has its own close button; a launcher left on top of it
         would sit over the Send button, and a tap on Send would close the chat. */
      .kf.open .launcher { display: none; }
      /* 16px: phone browsers zoom the page into a smaller text box on focus. */
      textarea { font-size: 16px; }
      /* Clear of the home indicator and rounded corners of notched phones. */
      form { padding-bottom: max(10px, env(safe-area-inset-bottom)); }
      header { padding-top: max(12px, env(safe-area-inset-top)); }
    }`;

