"""Every NATS subject and JetStream stream name ghostbus uses; no other module writes one."""

# Chat runs to do: a JetStream work queue pulled by llm workers.
RUNS_STREAM = "CHAT_RUNS"
CHAT_SUBMIT = "chat.submit"
RUNS_CONSUMER = "llm_workers"

# The events of each run, kept for a short while so a reloaded page can resume a run.
RUN_EVENTS_STREAM = "CHAT_EVENTS"
RUN_EVENTS_ALL = "chat.events.>"

# Cancelling a run is a core NATS message; nobody needs it after the run ends.
CHAT_CANCEL_ALL = "chat.cancel.*"

# A person's answer to a command waiting for approval: a request to the worker holding that run, which
# listens only while it waits (nobody listening means nobody is waiting any more).
CHAT_DECIDE_ALL = "chat.decide.*"

# Changes to show in browsers; the stream sequence is the SSE `id:`.
UI_STREAM = "UI"
UI_ALL = "ui.>"
UI_NOTIFY = "ui.notify"
UI_CONFIRMATION = "ui.confirmation"

# LLM workers answer nats.micro PING/INFO/STATS under this name, so the gateway can tell
# "no worker running" from "all workers busy".
WORKER_SERVICE = "llm_worker"
# Every worker answers with its backend's models (not a queue group: the gateway gathers all answers).
WORKER_MODELS = "llm_worker.models"
# Chat commands ("!help", "!test", ...) are not model runs: any one worker (a queue group) takes one at once,
# beside the model runs it has in hand, so a command never waits behind the model queue. The reply only
# says it was taken; the answer is the run's events, as for a model run.
WORKER_COMMAND = "llm_worker.command"
WORKER_COMMAND_QUEUE = "llm_worker_commands"


def service_ping(service: str) -> str:
    """The nats.micro PING subject of every instance of a service."""
    return f"$SRV.PING.{service}"


# The crud service (nats.micro): request/reply, one endpoint per command.
CRUD_SERVICE = "crud"
CRUD_QUEUE = "crud"
CRUD_ALL = "crud.>"
TASK_ENTITY = "task"
TASK_LIST = "crud.task.list"
AUDIT_LIST = "crud.audit.list"
NOTIFY = "crud.notify"
CONFIRMATION_ASK = "crud.confirmation.ask"
CONFIRMATION_SET = "crud.confirmation.set"
CONFIRMATION_PENDING = "crud.confirmation.pending"
CONVERSATION_APPEND = "crud.conversation.append"
CONVERSATION_RECENT = "crud.conversation.recent"
# A model run's start in one request: the person's message stored, and the list, the conversation and the
# latest changes read (one round trip and one crud request per run instead of four).
CONVERSATION_BEGIN = "crud.conversation.begin"


def run_event(run_id: str, attempt: int | str, index: int | str) -> str:
    """The subject of one AG-UI event of a chat run: its place is in the subject, so a follower that reads the
    events live (core NATS, no consumer) can tell a repeat or a gap without parsing headers. `attempt` counts
    the run's deliveries to a worker (a redelivered run starts again at index 0 under the next attempt);
    `index` is the event's place in its attempt, the same when a worker publishes it again."""
    return f"chat.events.{run_id}.{attempt}.{index}"


def run_events(run_id: str) -> str:
    """Every event of one chat run (a subscription's filter)."""
    return f"chat.events.{run_id}.>"


def run_event_place(subject: str) -> tuple[int, int] | None:
    """(attempt, index) of a run event's subject, or None when the subject does not carry them."""
    rest, _, index = subject.rpartition(".")
    head, _, attempt = rest.rpartition(".")
    if not (head.startswith("chat.events.") and _number(attempt) and _number(index)):
        return None
    return int(attempt), int(index)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 10


# A person's tabs share one conversation (its thread): a run one of them starts is announced to the others
# (core NATS, gateways only), which then follow the run's events from its first.
CHAT_THREAD_ALL = "chat.thread.*"


def chat_thread(thread_id: str) -> str:
    """The subject on which the gateways announce each run of a conversation to every tab showing it."""
    return f"chat.thread.{thread_id}"


def chat_cancel(run_id: str) -> str:
    """The subject that cancels one chat run."""
    return f"chat.cancel.{run_id}"


def chat_decide(run_id: str) -> str:
    """The subject on which a person approves or rejects a command of one chat run."""
    return f"chat.decide.{run_id}"


def crud_command(entity: str, op: str) -> str:
    """The crud endpoint that executes one kind of command, e.g. `crud.task.create`."""
    return f"crud.{entity}.{op}"


def ui_event(entity: str, kind: str) -> str:
    """The subject of one kind of UI change, e.g. `ui.task.created`."""
    return f"ui.{entity}.{kind}"
