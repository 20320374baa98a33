-- The audit lists each command with the ids of the events it produced, found by command id: without an
-- index each entry read the whole outbox, which only ever grows.
CREATE INDEX outbox_command ON outbox (command_id);
