// ghostbus page: the task list follows the SSE stream; the chat follows the run's AG-UI events.
// Everything a person or the model typed is inserted as text (textContent), never as markup.
"use strict";

const list = document.getElementById("tasks");
const formError = document.getElementById("form-error");

// ---- task list: idempotent, keyed by element id, ordered by position --------------------------
// The server sends each change as the rendered list item. It is parsed inside a <template>, where
// nothing runs and nothing loads, and only then put in the page.

function parseItems(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return Array.from(template.content.querySelectorAll("li.task"));
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
  source.addEventListener("notice", (e) => {
    const notice = JSON.parse(e.data);
    toast(notice.text, notice.level);
  });
}

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
  if (e.target.classList.contains("toggle")) {
    e.preventDefault(); // the checkbox shows the state the event brings back
    post(`/tasks/${li.dataset.id}/toggle`);
  } else if (e.target.classList.contains("delete")) {
    post(`/tasks/${li.dataset.id}/delete`);
  }
});

// ---- chat ----------------------------------------------------------------------------------------

const messages = document.getElementById("messages");
const chatInput = document.getElementById("chat-input");
const stopButton = document.getElementById("chat-stop");
const modelPicker = document.getElementById("chat-model");
const runs = new Map(); // run id -> {bubble, text, chips, calls}
const RESET_MARKER = "— new conversation —";
const threadId = localStorage.getItem("ghostbus-thread") || crypto.randomUUID().replaceAll("-", "");
localStorage.setItem("ghostbus-thread", threadId);
let socket = null;
let backoff = 500;
let activeRun = null;

// The run under way, kept for this tab (sessionStorage survives a reload), so a reloaded page or a
// new socket asks the gateway to replay it instead of losing the half-written answer. Run events are
// kept for an hour; a run this old that never ended is not coming back.
const PENDING = "ghostbus-run";
const PENDING_MAX_AGE_MS = 15 * 60 * 1000;

function pendingRun() {
  try {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    if (pending && Date.now() - pending.at < PENDING_MAX_AGE_MS) return pending;
  } catch (err) {
    // Unreadable: forget it.
  }
  sessionStorage.removeItem(PENDING);
  return null;
}

function bubble(kind, text) {
  const li = document.createElement("li");
  li.className = "msg " + kind;
  if (text) li.textContent = text;
  messages.append(li);
  messages.scrollTop = messages.scrollHeight;
  return li;
}

function runView(runId) {
  let view = runs.get(runId);
  if (!view) {
    const li = bubble("assistant", "");
    const chips = document.createElement("div");
    chips.className = "chips";
    const text = document.createElement("div");
    text.className = "text";
    const meta = document.createElement("div");
    meta.className = "meta";
    li.append(chips, text, meta);
    const actions = document.createElement("div");
    actions.className = "actions";
    li.append(actions);
    view = { li, chips, text, meta, actions, calls: new Map(), undoable: 0 };
    runs.set(runId, view);
  }
  return view;
}

function chipLabel(call) {
  try {
    const args = JSON.parse(call.args);
    const target = args.name !== undefined ? args.name : args.id !== undefined ? "#" + args.id : "";
    return `${call.name} ${target}`.trim();
  } catch (err) {
    return call.name;
  }
}

function onRunEvent(runId, event) {
  const view = runView(runId);
  switch (event.type) {
    case "RUN_STARTED":
      // The first event of a run, or of its replay after a reload or a worker's restart: start afresh.
      view.li.classList.remove("error");
      view.meta.textContent = "";
      view.text.textContent = "";
      view.chips.replaceChildren();
      view.actions.replaceChildren();
      view.calls.clear();
      view.undoable = 0;
      break;
    case "TEXT_MESSAGE_CONTENT":
      view.text.classList.add("streaming");
      view.text.append(document.createTextNode(event.delta)); // as text while it streams
      break;
    case "TOOL_CALL_START": {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.dataset.state = "pending";
      chip.textContent = event.toolCallName + "…";
      view.chips.append(chip);
      view.calls.set(event.toolCallId, { name: event.toolCallName, args: "", chip });
      break;
    }
    case "TOOL_CALL_ARGS": {
      const call = view.calls.get(event.toolCallId);
      if (call) call.args += event.delta;
      break;
    }
    case "TOOL_CALL_END": {
      const call = view.calls.get(event.toolCallId);
      if (call) call.chip.textContent = chipLabel(call) + "…";
      break;
    }
    case "TOOL_CALL_RESULT": {
      const call = view.calls.get(event.toolCallId);
      if (!call) break;
      let result = {};
      try { result = JSON.parse(event.content); } catch (err) { result = { ok: false }; }
      call.chip.dataset.state = result.ok ? "done" : "failed";
      call.chip.textContent = (result.ok ? "✓ " : "✗ ") + chipLabel(call);
      call.chip.title = result.ok ? result.summary || "" : (result.error && result.error.message) || "failed";
      if (result.ok) {
        const undo = document.createElement("button");
        undo.type = "button";
        undo.className = "link undo";
        undo.textContent = "Undo";
        undo.addEventListener("click", async () => {
          if (await command({ op: "undo", command_id: event.toolCallId })) {
            call.chip.dataset.undone = "true";
            undo.remove();
          }
        });
        call.chip.append(" ", undo);
        view.undoable += 1;
      }
      break;
    }
    case "RUN_FINISHED": {
      const m = event.result || {};
      const parts = [m.model];
      if (m.ttft_s != null) parts.push(`first token ${Math.round(m.ttft_s * 1000)} ms`);
      if (m.tokens_per_s != null) parts.push(`${m.tokens_per_s} tokens/s`);
      view.meta.textContent = parts.filter(Boolean).join(" · ");
      if (view.undoable > 1) {
        const all = document.createElement("button");
        all.type = "button";
        all.className = "link undo-all";
        all.textContent = "Undo all";
        all.addEventListener("click", async () => {
          if (await command({ op: "undo", run_id: runId })) {
            view.calls.forEach((c) => { c.chip.dataset.undone = "true"; c.chip.querySelector(".undo")?.remove(); });
            all.remove();
          }
        });
        view.actions.append(all);
      }
      endRun(runId);
      break;
    }
    case "RUN_ERROR":
      view.li.classList.add("error");
      view.meta.textContent = event.message;
      endRun(runId);
      break;
  }
  messages.scrollTop = messages.scrollHeight;
}

function endRun(runId) {
  const pending = pendingRun();
  if (pending && pending.runId === runId) sessionStorage.removeItem(PENDING);
  if (activeRun === runId) {
    activeRun = null;
    stopButton.hidden = true;
  }
}

function connectChat() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  setStatus("ws-status", "connecting");
  socket.onopen = () => {
    setStatus("ws-status", "open");
    backoff = 500;
    const pending = pendingRun();
    if (pending) {
      activeRun = pending.runId;
      stopButton.hidden = false;
      socket.send(JSON.stringify({ type: "resume", runId: pending.runId }));
    }
    loadModels();
  };
  socket.onclose = () => {
    setStatus("ws-status", "closed");
    setTimeout(connectChat, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (message.type === "run") {
      sessionStorage.setItem(PENDING, JSON.stringify({ runId: message.runId, text: message.text, at: Date.now() }));
      activeRun = message.runId;
      stopButton.hidden = false;
      runView(message.runId);
    } else if (message.type === "rendered") {
      // The finished message, rendered by the server from Markdown with raw HTML disabled.
      const view = runView(message.runId);
      view.text.classList.remove("streaming");
      view.text.innerHTML = message.html;
    } else if (message.type === "status") {
      runView(message.runId).meta.textContent = message.message;
    } else if (message.type === "error") {
      bubble("error", message.message);
    } else if (message.runId) {
      onRunEvent(message.runId, message); // an AG-UI event of that run
    }
  };
}

document.getElementById("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = chatInput.value.trim();
  if (!text) return;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    bubble("error", "The chat is reconnecting; try again in a moment.");
    return;
  }
  bubble("user", text);
  const frame = { type: "chat", text, threadId };
  if (modelPicker.value) frame.model = modelPicker.value;
  socket.send(JSON.stringify(frame));
  chatInput.value = "";
});

stopButton.addEventListener("click", () => {
  if (activeRun && socket) socket.send(JSON.stringify({ type: "cancel", runId: activeRun }));
});

async function loadHistory() {
  try {
    const response = await fetch(`/api/conversations/${threadId}`);
    if (!response.ok) return;
    const past = await response.json();
    let start = 0;
    past.forEach((m, i) => { if (m.role === "assistant" && m.text === RESET_MARKER) start = i + 1; });
    past.slice(start).forEach((m) => {
      if (m.role === "user") {
        bubble("user", m.text);
        return;
      }
      // An answer as it was shown when it finished: Markdown rendered by the server, raw HTML off.
      const li = bubble("assistant", "");
      const text = document.createElement("div");
      text.className = "text";
      text.innerHTML = m.html;
      li.append(text);
    });
    // A run that was under way when the page went away: finished since (its answer is in the history),
    // or to be resumed once the socket opens, below the question it answers.
    const pending = pendingRun();
    if (pending && past.some((m) => m.run_id === pending.runId && m.role === "assistant")) {
      sessionStorage.removeItem(PENDING);
    } else if (pending && !past.some((m) => m.run_id === pending.runId)) {
      bubble("user", pending.text);
    }
  } catch (err) {
    // No history is not an error worth showing.
  }
}

// The models the running workers answer with; the choice is remembered for this browser.
async function loadModels() {
  try {
    const response = await fetch("/api/models");
    if (!response.ok) return;
    const found = await response.json();
    const chosen = localStorage.getItem("ghostbus-model") || "";
    const options = [new Option("default model", "")];
    found.forEach((m) => {
      const option = new Option(m.model, m.model);
      option.title = `${m.backend} · ${m.workers} worker${m.workers === 1 ? "" : "s"}`;
      options.push(option);
    });
    if (chosen && !found.some((m) => m.model === chosen)) options.push(new Option(chosen, chosen));
    modelPicker.replaceChildren(...options);
    modelPicker.value = chosen;
  } catch (err) {
    // The picker keeps what it had.
  }
}

modelPicker.addEventListener("change", () => localStorage.setItem("ghostbus-model", modelPicker.value));

window.ghostbus.connectEvents = connectEvents;
updateCounts();
enableDrag();
connectEvents();
loadHistory().then(connectChat);
