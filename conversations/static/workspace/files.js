/* How a message's attachment looks: an image as a thumbnail that opens the full-size image in a
   new tab, any other file as a card with its name and size that downloads. Names are visitor
   text: textContent only. The links are signed and expire; every history read brings fresh ones. */

import { el } from "./dom.js";
import { gettext } from "./i18n.js";

export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

export function attachmentNode(a) {
  if (a.kind === "image" && (a.thumbnail_url || a.preview)) {
    const img = el("img", { alt: a.name, src: a.preview || a.thumbnail_url, loading: "lazy" });
    if (a.width && a.height) {
      const scale = Math.min(1, 240 / a.width, 240 / a.height);
      img.width = Math.max(1, Math.round(a.width * scale));
      img.height = Math.max(1, Math.round(a.height * scale));
    }
    const link = el("a", { class: "att-thumb", title: gettext("Open full size"), rel: "noopener noreferrer", target: "_blank" }, img);
    if (a.url) link.href = a.url;
    return link;
  }
  const ext = (a.name.split(".").pop() || "").slice(0, 4);
  const card = el("a", { class: "att-file", title: gettext("Download"), rel: "noopener noreferrer" },
    el("span", { class: "att-icon", "aria-hidden": "true", text: ext }),
    el("span", { class: "att-info" },
      el("span", { class: "att-name", text: a.name }),
      el("span", { class: "att-size", text: sizeText(a.size || 0) })));
  if (a.url) card.href = a.url;
  return card;
}
