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
