// ghostbus page: the person's changes as requests to the gateway. None changes the page by itself:
// the page changes when the resulting event comes back on the stream, in this tab and every other.
import { showFormError } from "./ui.js";

const UNREACHABLE = "The gateway did not answer; try again.";
const RETRY_PAUSES_MS = [300, 1000]; // a lost reply or a busy crud: asked again twice, same key
const RETRY_STATUSES = new Set([502, 503, 504]);

// A random Idempotency-Key (crypto.randomUUID needs a secure context; getRandomValues does not).
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One change, sent with one Idempotency-Key for all its attempts: when the reply is lost (the network
// fails, the gateway says crud is busy) it is sent again under the same key, and the gateway answers a
// change it already made with the first answer instead of making it twice. Throws if no attempt was answered.
async function send(url, init) {
  const headers = { ...init.headers, "Idempotency-Key": newKey() };
  for (let attempt = 0; ; attempt++) {
    let response = null;
    let failure = null;
    try {
      response = await fetch(url, { ...init, headers });
    } catch (error) {
      failure = error;
    }
    const last = attempt >= RETRY_PAUSES_MS.length;
    if (response && (last || !RETRY_STATUSES.has(response.status))) return response;
    if (last) throw failure || new Error(UNREACHABLE);
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSES_MS[attempt]));
  }
}

// The page's own forms (add, toggle, rename, delete, clear completed). The gateway takes them only with
// a header that a cross-site HTML form cannot send; its answer is the summary, or the refusal as text.
export async function postForm(url, fields = {}) {
  let response;
  try {
    response = await send(url, {
      method: "POST",
      headers: { "X-Ghostbus": "1" },
      body: new URLSearchParams(fields),
    });
  } catch (error) {
    showFormError(UNREACHABLE);
    return false;
  }
  showFormError(response.ok ? "" : (await response.text()) || "That did not work.");
  return response.ok;
}

// Any command of the language, as the person (JSON: a cross-site form cannot send it). The result, or
// null when it was refused (and the page says why).
export async function command(cmd) {
  let response;
  try {
    response = await send("/api/commands", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ command: cmd }),
    });
  } catch (error) {
    showFormError(UNREACHABLE);
    return null;
  }
  const body = await response.json().catch(() => ({}));
  showFormError(response.ok ? "" : body.error || "That did not work.");
  return response.ok ? body : null;
}

// The person's answer to a command waiting for approval: {ok, error, state} (state: the confirmation's
// state as the assistant sees it, "gone" when nobody waits any more).
export async function answer(runId, callId, approve) {
  const url = `/api/runs/${encodeURIComponent(runId)}/confirmations/${encodeURIComponent(callId)}`;
  let response;
  try {
    response = await send(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ approve }),
    });
  } catch (error) {
    return { ok: false, error: "The answer did not reach the assistant; try again." };
  }
  const body = await response.json().catch(() => ({}));
  return { ok: response.ok, error: body.error || "The answer did not reach the assistant; try again.", state: body.state };
}
