// ghostbus page: the entry module. It starts each part of the page; the parts share nothing but what
// they import from each other (ui.js, requests.js), no globals.
import { startChat } from "./chat.js";
import { startConfirmations } from "./confirmations.js";
import { startEditing } from "./editing.js";
import { connectEvents, currentSource, seen } from "./events.js";
import { updateCounts } from "./tasks.js";

// The one name the page puts on window, for people debugging in the console (and the browser tests):
// the event stream, the task events applied so far, and a way to open a new stream.
window.ghostbus = {
  get source() { return currentSource(); },
  seen,
  connectEvents,
};

updateCounts();
startEditing();
startConfirmations();
connectEvents();
startChat();
