// ghostbus page: the UI stream (Server-Sent Events from /events) brings every change to the list,
// every confirmation and every notice, to every open tab.
import { applyConfirmationEvent } from "./confirmations.js";
import { applyTaskEvent, resetList } from "./tasks.js";
import { setStatus, toast } from "./ui.js";

const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 15000;

// The page was rendered at sequence `cursor`, and the cursor follows every event applied: a new stream
// continues from there. (On its own reconnects the browser sends Last-Event-ID, which the gateway
// prefers over `after`.)
let cursor = document.getElementById("tasks").dataset.seq || "0";
let source = null;
let retryMs = FIRST_RETRY_MS;

// The event ids of the task events applied so far, in order: for people debugging, and the browser tests.
export const seen = [];

export function currentSource() {
  return source;
}

function follow(event, apply) {
  cursor = event.lastEventId;
  apply(event.data);
}

// make dev: the gateway restarts when its code, a template, the CSS or the JS changes; a page served by an
// earlier start reloads itself once the event stream is back (the conversation and the list come from the
// bus and crud, so they come back as they were).
async function reloadIfRestarted() {
  const served = document.querySelector('meta[name="ghostbus-boot"]');
  if (!served) return;
  try {
    const response = await fetch("/dev/boot", { cache: "no-store" });
    if (response.ok && (await response.text()) !== served.content) location.reload();
  } catch (err) {
    // the gateway went away again: the next open asks again
  }
}

export function connectEvents() {
  const stream = new EventSource("/events?after=" + encodeURIComponent(cursor));
  source = stream;
  stream.onopen = () => {
    setStatus("sse-status", "open");
    retryMs = FIRST_RETRY_MS;
    reloadIfRestarted();
  };
  stream.onerror = () => {
    if (stream.readyState !== EventSource.CLOSED) {
      setStatus("sse-status", "connecting"); // the browser retries by itself, with Last-Event-ID
      return;
    }
    // It gave up (the gateway answered with an error, e.g. while restarting): start over from the cursor,
    // unless another stream has replaced this one meanwhile.
    setStatus("sse-status", "closed");
    setTimeout(() => { if (source === stream) connectEvents(); }, retryMs);
    retryMs = Math.min(retryMs * 2, LAST_RETRY_MS);
  };
  stream.addEventListener("task", (e) => {
    seen.push(Number(e.lastEventId));
    follow(e, applyTaskEvent);
  });
  stream.addEventListener("reset", (e) => follow(e, resetList));
  stream.addEventListener("confirmation", (e) => follow(e, applyConfirmationEvent));
  stream.addEventListener("notice", (e) => {
    const notice = JSON.parse(e.data);
    toast(notice.text, notice.level);
  });
}
