// ghostbus page: the chat's messages. A run's answer is built from its AG-UI events: text streams in as
// text (textContent); the finished answer is the server's rendering (Markdown with raw HTML off).
import { command } from "./requests.js";

const messages = document.getElementById("messages");
const runs = new Map(); // run id -> its bubble's parts, tool calls and how many can be undone

function scrollToEnd() {
  messages.scrollTop = messages.scrollHeight;
}

export function bubble(kind, text) {
  const li = document.createElement("li");
  li.className = "msg " + kind;
  if (text) li.textContent = text;
  messages.append(li);
  scrollToEnd();
  return li;
}

// An answer from the conversation's history, as it was shown when it finished.
export function pastAnswer(html) {
  const text = document.createElement("div");
  text.className = "text";
  text.innerHTML = html;
  bubble("assistant", "").append(text);
}

function part(className) {
  const div = document.createElement("div");
  div.className = className;
  return div;
}

// The bubble of a run's answer, made on its first event.
export function runView(runId) {
  let view = runs.get(runId);
  if (!view) {
    const li = bubble("assistant", "");
    const [chips, text, meta, actions] = ["chips", "text", "meta", "actions"].map(part);
    li.append(chips, text, meta, actions);
    view = { li, chips, text, meta, actions, calls: new Map(), undoable: 0 };
    runs.set(runId, view);
  }
  return view;
}

// The finished message, rendered by the server from Markdown with raw HTML disabled.
export function showRendered(runId, html) {
  const view = runView(runId);
  view.text.classList.remove("streaming");
  view.text.innerHTML = html;
}

export function showStatus(runId, text) {
  runView(runId).meta.textContent = text;
}

// What a command did, in words: "done: milk", "moved: eggs → 1st", "renamed: milk → oat milk".
// Each op: what it is called while it runs, once done, and when it could not be done.
const WORDS = {
  create: ["adding", "added", "not added"],
  delete: ["removing", "removed", "not removed"],
  rename: ["renaming", "renamed", "not renamed"],
  move: ["moving", "moved", "not moved"],
  set_done: ["ticking", "done", "not ticked"],
  toggle: ["ticking", "done", "not ticked"],
  reorder: ["reordering the list", "reordered the list", "not reordered"],
  clear_completed: ["clearing the done tasks", "cleared the done tasks", "not cleared"],
  undo: ["undoing", "undone", "not undone"],
};
const NO_TARGET = new Set(["reorder", "clear_completed", "undo"]);

function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return n + suffix;
}

function parsedArgs(call) {
  try {
    const args = JSON.parse(call.args);
    return args && typeof args === "object" ? args : {};
  } catch (err) {
    return {};
  }
}

function chipLabel(call, result) {
  const args = parsedArgs(call);
  const task = result && result.task;
  const target = args.name !== undefined ? args.name : args.id !== undefined ? "#" + args.id : "";
  const named = task && task.name !== undefined ? task.name : target;
  const words = Object.hasOwn(WORDS, call.name) ? WORDS[call.name] : null;
  if (!words) return `${call.name} ${target}`.trim();
  const [running, done, failed] = words;
  if (!result) return NO_TARGET.has(call.name) ? running : `${running} ${target}`.trim();
  if (!result.ok) return NO_TARGET.has(call.name) || !target ? failed : `${failed}: ${target}`;
  if (NO_TARGET.has(call.name)) return done;
  if ((call.name === "set_done" || call.name === "toggle") && task && !task.done) return `not done: ${named}`;
  if (call.name === "rename") return `${done}: ${target} → ${args.new_name !== undefined ? args.new_name : named}`;
  if (call.name === "move" && typeof args.position === "number") {
    return `${done}: ${named} → ${ordinal(args.position + 1)}`;
  }
  return `${done}: ${named}`;
}

function linkButton(className, label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link " + className;
  button.textContent = label;
  button.addEventListener("click", onClick);
  return button;
}

function startAfresh(view) {
  view.li.classList.remove("error");
  view.meta.textContent = "";
  view.text.textContent = "";
  view.chips.replaceChildren();
  view.actions.replaceChildren();
  view.calls.clear();
  view.undoable = 0;
}

function showResult(view, event) {
  const call = view.calls.get(event.toolCallId);
  if (!call) return;
  let result = {};
  try { result = JSON.parse(event.content); } catch (err) { result = { ok: false }; }
  call.chip.dataset.state = result.ok ? "done" : "failed";
  call.chip.textContent = (result.ok ? "✓ " : "✗ ") + chipLabel(call, result);
  call.chip.title = result.ok ? result.summary || "" : (result.error && result.error.message) || "failed";
  if (!result.ok) return;
  const undo = linkButton("undo", "Undo", async () => {
    if (await command({ op: "undo", command_id: event.toolCallId })) {
      call.chip.dataset.undone = "true";
      undo.remove();
    }
  });
  call.chip.append(" ", undo);
  view.undoable += 1;
}

function showFinished(view, runId, event) {
  const m = event.result || {};
  const parts = [m.model];
  if (m.ttft_s != null) parts.push(`first token ${Math.round(m.ttft_s * 1000)} ms`);
  if (m.tokens_per_s != null) parts.push(`${m.tokens_per_s} tokens/s`);
  view.meta.textContent = parts.filter(Boolean).join(" · ");
  if (view.calls.size > 0) {
    // What the run did, as crud recorded it.
    const link = document.createElement("a");
    link.className = "audit-link";
    link.href = "/audit?run=" + encodeURIComponent(runId);
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = "audit";
    view.meta.append(link);
  }
  if (view.undoable <= 1) return;
  const all = linkButton("undo-all", "Undo all", async () => {
    if (await command({ op: "undo", run_id: runId })) {
      view.calls.forEach((c) => { c.chip.dataset.undone = "true"; c.chip.querySelector(".undo")?.remove(); });
      all.remove();
    }
  });
  view.actions.append(all);
}

// One AG-UI event of a run, shown in its bubble. True when it ends the run.
export function applyRunEvent(runId, event) {
  const view = runView(runId);
  let ended = false;
  switch (event.type) {
    case "RUN_STARTED":
      // The first event of a run, or of its replay after a reload or a worker's restart: start afresh.
      startAfresh(view);
      break;
    case "TEXT_MESSAGE_CONTENT":
      view.text.classList.add("streaming");
      view.text.append(document.createTextNode(event.delta)); // as text while it streams
      break;
    case "TOOL_CALL_START": {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.dataset.state = "pending";
      const call = { name: event.toolCallName, args: "", chip };
      chip.textContent = chipLabel(call, null) + "…";
      view.chips.append(chip);
      view.calls.set(event.toolCallId, call);
      break;
    }
    case "TOOL_CALL_ARGS": {
      const call = view.calls.get(event.toolCallId);
      if (call) call.args += event.delta;
      break;
    }
    case "TOOL_CALL_END": {
      const call = view.calls.get(event.toolCallId);
      if (call) call.chip.textContent = chipLabel(call, null) + "…";
      break;
    }
    case "TOOL_CALL_RESULT":
      showResult(view, event);
      break;
    case "RUN_FINISHED":
      showFinished(view, runId, event);
      ended = true;
      break;
    case "RUN_ERROR":
      view.li.classList.add("error");
      view.meta.textContent = event.message;
      ended = true;
      break;
  }
  scrollToEnd();
  return ended;
}
