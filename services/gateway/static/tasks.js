// ghostbus page: the task list as the events say it is. Items are keyed by element id and ordered by
// position; applying an event twice, or an older one after a newer, changes nothing.
import { parseFragments } from "./ui.js";

const list = document.getElementById("tasks");
const MODEL_MARK_SHOWN_MS = 2500;

export function updateCounts() {
  const all = list.children.length;
  const done = list.querySelectorAll(".task.done").length;
  document.getElementById("counts").textContent = all ? `${all - done} open · ${done} done` : "";
  document.getElementById("empty").hidden = all > 0;
}

// Back to the order the positions say (after an event, or after a drag the server refused).
export function reorder() {
  const items = Array.from(list.children);
  items.sort((a, b) => Number(a.dataset.position) - Number(b.dataset.position));
  items.forEach((li) => list.append(li));
  updateCounts();
}

function markModel(li) {
  if (!li.dataset.by) return;
  li.querySelector(".by").textContent = "by " + li.dataset.by;
  li.classList.add("by-model");
  setTimeout(() => li.classList.remove("by-model"), MODEL_MARK_SHOWN_MS);
}

// A task event applies only if its version is newer than the one shown; a deleted task goes away.
function applyItem(item) {
  const existing = document.getElementById(item.id);
  if (existing && Number(existing.dataset.version) >= Number(item.dataset.version)) return;
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

// `event: task`: the changed task, rendered as its list item.
export function applyTaskEvent(html) {
  parseFragments(html, "li.task").forEach(applyItem);
}

// `event: reset`: the whole list, when the events the page missed are no longer kept.
export function resetList(html) {
  list.replaceChildren(...parseFragments(html, "li.task"));
  reorder();
}
