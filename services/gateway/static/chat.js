// ghostbus page, the chat sidebar: it follows each run's AG-UI events over the WebSocket.
// Text from the model streams in as text (textContent); a finished answer is the server's rendering.
"use strict";

const messages = document.getElementById("messages");
const chatInput = document.getElementById("chat-input");
const stopButton = document.getElementById("chat-stop");
const modelPicker = document.getElementById("chat-model");
const runs = new Map(); // run id -> {bubble, text, chips, calls}
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
    past.forEach((m, i) => { if (m.kind === "reset") start = i + 1; });
    // A `!model` choice is an entry of the conversation, not something anyone said.
    past.slice(start).filter((m) => m.kind === "message").forEach((m) => {
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

// The models the running workers can use (their backends' lists); the choice is remembered here.
async function loadModels() {
  try {
    const response = await fetch("/api/models");
    if (!response.ok) return;
    const found = await response.json();
    const chosen = localStorage.getItem("ghostbus-model") || "";
    const options = [new Option("default model", "")];
    found.forEach((m) => {
      const option = new Option(m.model, m.model);
      option.title = `${m.backend} · ${m.workers} worker${m.workers === 1 ? "" : "s"}${m.default ? " · a default" : ""}`;
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

loadHistory().then(connectChat);
