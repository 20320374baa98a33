// ghostbus page: the chat sidebar. The WebSocket to the gateway carries the person's messages and each
// run's AG-UI events; a reload resumes the run under way; the model picker lists the workers' models.
import { applyRunEvent, bubble, pastAnswer, runView, showRendered, showStatus } from "./messages.js";
import { setStatus } from "./ui.js";

const chatInput = document.getElementById("chat-input");
const stopButton = document.getElementById("chat-stop");
const modelPicker = document.getElementById("chat-model");
const threadId = localStorage.getItem("ghostbus-thread") || crypto.randomUUID().replaceAll("-", "");
localStorage.setItem("ghostbus-thread", threadId);
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 10000;
let socket = null;
let retryMs = FIRST_RETRY_MS;
let activeRun = null;

// The conversation as the page shows it: what was said since the last "new conversation" (`!reset`).
// A `!model` choice is an entry of the conversation (kind "model"), not something anyone said.
function currentConversation(entries) {
  let start = 0;
  entries.forEach((m, i) => { if (m.kind === "reset") start = i + 1; });
  return entries.slice(start).filter((m) => m.kind === "message");
}

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

function startRun(runId) {
  activeRun = runId;
  stopButton.hidden = false;
}

function endRun(runId) {
  const pending = pendingRun();
  if (pending && pending.runId === runId) sessionStorage.removeItem(PENDING);
  if (activeRun === runId) {
    activeRun = null;
    stopButton.hidden = true;
  }
}

function onFrame(message) {
  if (message.type === "run") {
    if (message.mirrored) bubble("user", message.text); // sent from another tab of this conversation
    sessionStorage.setItem(PENDING, JSON.stringify({ runId: message.runId, text: message.text, at: Date.now() }));
    startRun(message.runId);
    runView(message.runId);
  } else if (message.type === "rendered") {
    showRendered(message.runId, message.html);
  } else if (message.type === "status") {
    showStatus(message.runId, message.message);
  } else if (message.type === "error") {
    bubble("error", message.message);
  } else if (message.runId && applyRunEvent(message.runId, message)) {
    endRun(message.runId); // an AG-UI event of that run, and it was the last
  }
}

function connectChat() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  setStatus("ws-status", "connecting");
  socket.onopen = () => {
    setStatus("ws-status", "open");
    retryMs = FIRST_RETRY_MS;
    // Every tab of this browser shows the same conversation: runs started elsewhere come here too.
    socket.send(JSON.stringify({ type: "join", threadId }));
    const pending = pendingRun();
    if (pending) {
      startRun(pending.runId);
      socket.send(JSON.stringify({ type: "resume", runId: pending.runId }));
    }
    loadModels();
  };
  socket.onclose = () => {
    setStatus("ws-status", "closed");
    setTimeout(connectChat, retryMs);
    retryMs = Math.min(retryMs * 2, LAST_RETRY_MS);
  };
  socket.onmessage = (e) => {
    // Events due together under load come as one frame: an array of them, in order.
    const data = JSON.parse(e.data);
    for (const message of Array.isArray(data) ? data : [data]) onFrame(message);
  };
}

function send(e) {
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
}

async function loadHistory() {
  try {
    const response = await fetch(`/api/conversations/${threadId}`);
    if (!response.ok) return;
    const past = await response.json();
    currentConversation(past).forEach((m) => {
      if (m.role === "user") bubble("user", m.text);
      else pastAnswer(m.html); // Markdown rendered by the server, raw HTML off
    });
    // A run that was under way when the page went away: finished since (its answer is in the history),
    // or to be resumed once the socket opens, below the question it answers.
    const pending = pendingRun();
    const answered = new Set(past.filter((m) => m.role === "assistant").map((m) => m.run_id));
    if (pending && answered.has(pending.runId)) {
      sessionStorage.removeItem(PENDING);
    } else if (pending && !past.some((m) => m.run_id === pending.runId)) {
      bubble("user", pending.text);
    } else if (!pending) {
      // A tab opened while another tab's question is being answered: that answer is replayed here from
      // its first token once the socket opens, then followed live.
      const asked = currentConversation(past).filter((m) => m.role === "user" && m.run_id);
      const last = asked[asked.length - 1];
      if (last && !answered.has(last.run_id) && Date.now() - last.at * 1000 < PENDING_MAX_AGE_MS) {
        sessionStorage.setItem(PENDING, JSON.stringify({ runId: last.run_id, text: last.text, at: last.at * 1000 }));
      }
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

export function startChat() {
  document.getElementById("chat-form").addEventListener("submit", send);
  stopButton.addEventListener("click", () => {
    if (activeRun && socket) socket.send(JSON.stringify({ type: "cancel", runId: activeRun }));
  });
  modelPicker.addEventListener("change", () => localStorage.setItem("ghostbus-model", modelPicker.value));
  loadHistory().then(connectChat);
}
