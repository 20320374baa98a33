// Drives POST /agui with the official AG-UI client (@ag-ui/client's HttpAgent): one run, every event it
// saw printed as one JSON line, then the messages the agent holds at the end. Usage: node agui_client.mjs URL TEXT
import { HttpAgent } from "@ag-ui/client";

const [url, text] = process.argv.slice(2);
const agent = new HttpAgent({ url, threadId: "node-thread" });
agent.addMessage({ id: "node-m1", role: "user", content: text });
const result = await agent.runAgent(
  { runId: "node-run-1", forwardedProps: {} },
  { onEvent: ({ event }) => console.log(JSON.stringify({ event })) },
);
console.log(JSON.stringify({ messages: agent.messages, newMessages: result.newMessages }));
