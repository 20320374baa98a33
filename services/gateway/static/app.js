// ghostbus page, the task list: it follows the SSE stream; every change a person makes is a command.
// Everything a person or the model typed is inserted as text (textContent), never as markup.
// chat.js (loaded after this file) is the chat sidebar; both share the helpers defined here.
"use strict";

const list = document.getElementById("tasks");
const formError = document.getElementById("form-error");

// ---- task list: idempotent, keyed by element id, ordered by position --------------------------
// The server sends each change as the rendered list item (a confirmation as its card). It is parsed
// inside a <template>, where nothing runs and nothing loads, and only then put in the page.

function parseFragments(html, selector) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return Array.from(template.content.querySelectorAll(selector));
}

function parseItems(html) {
  return parseFragments(html, "li.task");
}

function reorder() {
  const items = Array.from(list.children);
  items.sort((a, b) => Number(a.dataset.position) - Number(b.dataset.position));
  items.forEach((li) => list.append(li));
  updateCounts();
}

function updateCounts() {
  const all = list.children.length;
  const done = list.querySelectorAll(".task.done").length;
  document.getElementById("counts").textContent = all ? `${all - done} open · ${done} done` : "";
  document.getElementById("empty").hidden = all > 0;
}

function markModel(li) {
  if (!li.dataset.by) return;
  li.querySelector(".by").textContent = "by " + li.dataset.by;
  li.classList.add("by-model");
  setTimeout(() => li.classList.remove("by-model"), 2500);
}

// Applying the same event twice changes nothing: an item older than the one shown is ignored.
function applyItem(item) {
  const existing = document.getElementById(item.id);
  const version = Number(item.dataset.version);
  if (existing && Number(existing.dataset.version) >= version) return;
  if (item.dataset.kind === "deleted") {
    if (existing) existing.remove();
    updateCounts();
    return;
  }
  if (existing) existing.replaceWith(item);
  else list.append(item);
  markModel(item);
  reorder();
}

function resetList(html) {
  list.replaceChildren(...parseItems(html));
  reorder();
}

function toast(text, level) {
  const box = document.createElement("div");
  box.className = "toast " + (level || "info");
  box.textContent = text;
  document.getElementById("toasts").append(box);
  setTimeout(() => box.remove(), 4000);
}

function setStatus(id, state) {
  document.getElementById(id).dataset.state = state;
}

// For people debugging (and the browser tests): the stream, and the event ids applied so far.
window.ghostbus = { source: null, seen: [], connectEvents: null };

let eventsBackoff = 1000;

function connectEvents() {
  // The page was rendered at sequence `seq`, and `seq` follows every event applied; a new stream
  // continues from there. On its own reconnects the browser sends Last-Event-ID, which the gateway
  // prefers over `after`.
  const source = new EventSource("/events?after=" + encodeURIComponent(list.dataset.seq || "0"));
  window.ghostbus.source = source;
  source.onopen = () => {
    setStatus("sse-status", "open");
    eventsBackoff = 1000;
  };
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) {
      setStatus("sse-status", "connecting"); // the browser retries by itself, with Last-Event-ID
      return;
    }
    // It gave up (the gateway answered with an error, e.g. while restarting): start over from `seq`.
    setStatus("sse-status", "closed");
    setTimeout(() => { if (window.ghostbus.source === source) connectEvents(); }, eventsBackoff);
    eventsBackoff = Math.min(eventsBackoff * 2, 15000);
  };
  source.addEventListener("task", (e) => {
    list.dataset.seq = e.lastEventId;
    window.ghostbus.seen.push(Number(e.lastEventId));
    parseItems(e.data).forEach(applyItem);
  });
  source.addEventListener("reset", (e) => {
    list.dataset.seq = e.lastEventId;
    resetList(e.data);
  });
  source.addEventListener("confirmation", (e) => {
    list.dataset.seq = e.lastEventId;
    parseFragments(e.data, "div.confirmation").forEach(applyConfirmation);
  });
  source.addEventListener("notice", (e) => {
    const notice = JSON.parse(e.data);
    toast(notice.text, notice.level);
  });
}

// ---- confirmations: a model's command that changes many tasks waits for Approve / Reject --------
// Shown in every tab; the first answer from any tab counts, and every tab then shows the answer.

const confirmations = document.getElementById("confirmations");
const SETTLED_SHOWN_MS = 10000;

// Idempotent: an answer stands, so a replayed "pending" never brings the buttons back.
function applyConfirmation(card) {
  const existing = document.getElementById(card.id);
  if (existing && existing.dataset.state !== "pending") return;
  if (existing) existing.replaceWith(card);
  else if (card.dataset.state === "pending") confirmations.append(card);
  else return;
  if (card.dataset.state !== "pending") setTimeout(() => card.remove(), SETTLED_SHOWN_MS);
}

function settleLocally(card, text) {
  card.dataset.state = "gone";
  const answer = document.createElement("p");
  answer.className = "answer";
  answer.textContent = text;
  card.querySelector(".decide").replaceWith(answer);
  setTimeout(() => card.remove(), SETTLED_SHOWN_MS);
}

confirmations.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-approve]");
  if (!button) return;
  const card = button.closest(".confirmation");
  const buttons = card.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  const url = `/api/runs/${encodeURIComponent(card.dataset.run)}/confirmations/${encodeURIComponent(card.dataset.call)}`;
  let response = null;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ approve: button.dataset.approve === "true" }),
    });
  } catch (error) {
    response = null;
  }
  if (response && response.ok) return; // every tab, this one too, shows the answer from the stream
  const body = response ? await response.json().catch(() => ({})) : {};
  const text = body.error || "The answer did not reach the assistant; try again.";
  toast(text, "error");
  if (body.state === "gone") settleLocally(card, text);
  else if (!body.state || body.state === "pending") buttons.forEach((b) => { b.disabled = false; });
});

// ---- task forms: every change is a command to crud; the list changes only through events ---------

function showFormError(text) {
  formError.textContent = text;
  formError.hidden = !text;
}

document.body.addEventListener("htmx:afterRequest", (e) => {
  if (e.detail.elt.id !== "add-form") return;
  if (e.detail.successful) {
    showFormError("");
    e.detail.elt.reset();
  } else {
    const xhr = e.detail.xhr;
    showFormError(xhr && xhr.responseText ? xhr.responseText : "The task could not be added.");
  }
});
// htmx leaves 4xx/5xx responses alone; the message is shown above instead.

async function post(url, form) {
  const response = await fetch(url, { method: "POST", headers: { "HX-Request": "true" }, body: form });
  if (!response.ok) showFormError(await response.text());
  else showFormError("");
  return response.ok;
}

// Any command of the language, as the person (JSON: a cross-site form cannot send it).
async function command(cmd) {
  const response = await fetch("/api/commands", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ command: cmd }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) showFormError(body.error || "That did not work.");
  else showFormError("");
  return response.ok ? body : null;
}

function startRename(li) {
  const name = li.querySelector(".name");
  if (!name || li.querySelector(".rename")) return;
  const input = document.createElement("input");
  input.className = "rename";
  input.value = name.textContent;
  input.maxLength = 200;
  input.setAttribute("aria-label", "New name");
  name.hidden = true;
  li.insertBefore(input, name);
  input.focus();
  input.select();
  let finished = false;
  const finish = async (save) => {
    if (finished) return;
    finished = true;
    const value = input.value.trim();
    if (save && value && value !== name.textContent) {
      const form = new FormData();
      form.set("name", value);
      form.set("version", li.dataset.version);
      await post(`/tasks/${li.dataset.id}/rename`, form);
    }
    input.remove();
    name.hidden = false;
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish(true);
    if (e.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

list.addEventListener("dblclick", (e) => {
  const li = e.target.closest(".task");
  if (li && e.target.classList.contains("name")) startRename(li);
});

document.getElementById("clear-completed").addEventListener("click", () => post("/tasks/clear-completed"));

function enableDrag() {
  if (!window.Sortable) return;
  window.Sortable.create(list, {
    animation: 120,
    filter: ".rename, .toggle, .delete",
    preventOnFilter: false,
    onEnd: async (e) => {
      if (e.oldIndex === e.newIndex) return;
      const order = Array.from(list.children).map((li) => Number(li.dataset.id));
      if (!(await command({ op: "reorder", order }))) reorder(); // refused: back to the list's order
    },
  });
}

list.addEventListener("click", (e) => {
  const li = e.target.closest(".task");
  if (!li) return;
  // The version shown goes with the change: if the task changed elsewhere meanwhile, crud refuses it,
  // the page says so, and the item shows the change that came first.
  const form = new FormData();
  form.set("version", li.dataset.version);
  if (e.target.classList.contains("toggle")) {
    e.preventDefault(); // the checkbox shows the state the event brings back
    post(`/tasks/${li.dataset.id}/toggle`, form);
  } else if (e.target.classList.contains("delete")) {
    post(`/tasks/${li.dataset.id}/delete`, form);
  }
});

window.ghostbus.connectEvents = connectEvents;
updateCounts();
enableDrag();
connectEvents();
