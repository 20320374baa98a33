// ghostbus page: what every part of the page uses to show things. Everything a person or the model
// typed is inserted as text (textContent), never as markup; the server's own fragments go through
// parseFragments.

const formError = document.getElementById("form-error");
const toasts = document.getElementById("toasts");
const TOAST_SHOWN_MS = 4000;

// The server sends each change as rendered HTML (a list item, a confirmation card). It is parsed inside
// a <template>, where nothing runs and nothing loads, and only then put in the page.
export function parseFragments(html, selector) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return Array.from(template.content.querySelectorAll(selector));
}

export function toast(text, level) {
  const box = document.createElement("div");
  box.className = "toast " + (level || "info");
  box.textContent = text;
  toasts.append(box);
  setTimeout(() => box.remove(), TOAST_SHOWN_MS);
}

// The header's connection dots: "connecting", "open" or "closed".
export function setStatus(id, state) {
  document.getElementById(id).dataset.state = state;
}

// Why the person's last change was refused (empty: it went through, and the message goes away).
export function showFormError(text) {
  formError.textContent = text;
  formError.hidden = !text;
}
