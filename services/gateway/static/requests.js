// ghostbus page: the person's changes as requests to the gateway. None changes the page by itself:
// the page changes when the resulting event comes back on the stream, in this tab and every other.
import { showFormError } from "./ui.js";

const UNREACHABLE = "The gateway did not answer; try again.";

// The page's own forms (add, toggle, rename, delete, clear completed). The gateway takes them only with
// a header that a cross-site HTML form cannot send; its answer is the summary, or the refusal as text.
export async function postForm(url, fields = {}) {
  let response;
  try {
    response = await fetch(url, {
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
    response = await fetch("/api/commands", {
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
    response = await fetch(url, {
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
