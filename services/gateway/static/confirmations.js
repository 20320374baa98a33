// ghostbus page: a model's command that changes many tasks waits for Approve / Reject. Shown in every
// tab; the first answer from any tab counts, and every tab then shows the answer (from the stream).
import { answer } from "./requests.js";
import { parseFragments, toast } from "./ui.js";

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

// `event: confirmation`: a question, or its answer, rendered as its card.
export function applyConfirmationEvent(html) {
  parseFragments(html, "div.confirmation").forEach(applyConfirmation);
}

// Nobody waits for an answer any more (the run ended): the card says so here, as no event will.
function settleLocally(card, text) {
  card.dataset.state = "gone";
  const said = document.createElement("p");
  said.className = "answer";
  said.textContent = text;
  card.querySelector(".decide").replaceWith(said);
  setTimeout(() => card.remove(), SETTLED_SHOWN_MS);
}

async function decide(button) {
  const card = button.closest(".confirmation");
  const buttons = card.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  const reply = await answer(card.dataset.run, card.dataset.call, button.dataset.approve === "true");
  if (reply.ok) return; // every tab, this one too, shows the answer from the stream
  toast(reply.error, "error");
  if (reply.state === "gone") settleLocally(card, reply.error);
  else if (!reply.state || reply.state === "pending") buttons.forEach((b) => { b.disabled = false; });
}

export function startConfirmations() {
  confirmations.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-approve]");
    if (button) decide(button);
  });
}
