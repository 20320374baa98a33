-- What a conversation entry is: a message someone said, the point where `!reset` started a new
-- conversation, or the model `!model` chose (its name in `text`). Both marks used to be assistant
-- messages recognised by their text; the ones already stored become entries of their kind.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'reset', 'model'));
UPDATE messages SET kind = 'reset', text = ''
    WHERE role = 'assistant' AND text = '— new conversation —';
UPDATE messages SET kind = 'model', text = substr(text, 10, length(text) - 11)
    WHERE role = 'assistant' AND text LIKE '— model: % —';
