-- A command id is bound to what it asked: the fingerprint of the command (proto's
-- CommandRequest.fingerprint) is kept with it, so the same id with another command is refused as a
-- conflict instead of being answered with the stored result of the first. Older rows have none; crud
-- computes theirs from the stored command when it needs it.
ALTER TABLE commands ADD COLUMN fingerprint TEXT;
