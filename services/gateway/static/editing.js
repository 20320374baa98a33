// ghostbus page: the person's own edits of the list. Each is a command to crud through the gateway;
// the list itself changes only when the event comes back (tasks.js).
import { command, postForm } from "./requests.js";
import { reorder } from "./tasks.js";

const list = document.getElementById("tasks");
const addForm = document.getElementById("add-form");
const addName = document.getElementById("add-name");

async function add() {
  const name = addName.value;
  // Cleared only if it still holds what was sent: the person may have typed the next one meanwhile.
  if ((await postForm(addForm.action, { name })) && addName.value === name) addForm.reset();
}

// The version shown goes with every change to a task: if the task changed elsewhere meanwhile, crud
// refuses it, the page says so, and the item shows the change that came first.
function onTask(li, action, fields = {}) {
  return postForm(`/tasks/${li.dataset.id}/${action}`, { version: li.dataset.version, ...fields });
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
    if (save && value && value !== name.textContent) await onTask(li, "rename", { name: value });
    input.remove();
    name.hidden = false;
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish(true);
    if (e.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

function onClick(e) {
  const li = e.target.closest(".task");
  if (!li) return;
  if (e.target.classList.contains("toggle")) {
    e.preventDefault(); // the checkbox shows the state the event brings back
    onTask(li, "toggle");
  } else if (e.target.classList.contains("delete")) {
    onTask(li, "delete");
  }
}

// SortableJS comes as its browser build (a classic script the page loads first, which defines
// `Sortable`): the gateway serves that build from node_modules, not the package's ES module.
function enableDrag() {
  const { Sortable } = globalThis;
  if (!Sortable) return;
  Sortable.create(list, {
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

export function startEditing() {
  addForm.addEventListener("submit", (e) => {
    e.preventDefault();
    add();
  });
  list.addEventListener("click", onClick);
  list.addEventListener("dblclick", (e) => {
    const li = e.target.closest(".task");
    if (li && e.target.classList.contains("name")) startRename(li);
  });
  document.getElementById("clear-completed").addEventListener("click", () => postForm("/tasks/clear-completed"));
  enableDrag();
}
