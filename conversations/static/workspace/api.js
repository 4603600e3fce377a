/* The REST API: the session cookie plus the X-Kefu-Merchant header. */

import { signedOut } from "./session.js";
import { MERCHANT } from "./state.js";

// `optional`: a refusal only means this extra (suggestions, timeline) is not available.
export async function api(url, optional) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Kefu-Merchant": String(MERCHANT) },
  });
  if (!optional && (response.status === 401 || response.status === 403)) {
    signedOut();
    throw new Error(`HTTP ${response.status}`);
  }
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  return response.json();
}

// Writes: the session cookie needs Django's CSRF token, taken from a form of the page. Returns
// {ok, status, data} so callers can show a 400's field errors where they belong.
export async function apiWrite(method, url, body) {
  const token = document.querySelector("input[name=csrfmiddlewaretoken]");
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      Accept: "application/json", "Content-Type": "application/json",
      "X-Kefu-Merchant": String(MERCHANT), "X-CSRFToken": token ? token.value : "",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) signedOut();
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data };
}
