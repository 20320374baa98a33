"""A llama.cpp model read a token at a time: its next-token probabilities after each token fed, and a choice
among allowed continuations by them (decoder.py decides what is allowed)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class Stopped(Exception):
    """The person pressed Stop while the model was deciding."""


class Reader:
    """A llama.cpp model whose state can be fed token by token, with the log-probabilities of its next
    token after each feed. Counts the tokens it evaluates."""

    def __init__(self, llm: Any, stop: threading.Event | None = None) -> None:
        self.llm = llm
        self.stop = stop or threading.Event()
        self.vocab = int(llm.n_vocab())
        self.fed = 0
        self.prompt_fed = 0
        self._tokens: dict[str, list[int]] = {}

    def tokens(self, text: str) -> list[int]:
        found = self._tokens.get(text)
        if found is None:
            found = self._tokens[text] = list(self.llm.tokenize(text.encode(), add_bos=False, special=False))
        return found

    def start(self, prompt: str) -> None:
        """Evaluate a prompt, reusing what llama.cpp already holds of the same beginning (the few-shot
        examples): only the request's own tokens are new."""
        tokens = list(self.llm.tokenize(prompt.encode(), add_bos=True, special=False))
        held = self.llm.input_ids[: self.llm.n_tokens]
        same = 0
        for a, b in zip(held, tokens, strict=False):
            if a != b:
                break
            same += 1
        self.llm.n_tokens = min(same, len(tokens) - 1)  # at least one token to evaluate, for fresh logits
        self.feed(tokens[self.llm.n_tokens :])
        self.prompt_fed += len(tokens) - same

    def mark(self) -> int:
        """Where the state is now, to come back to with `rewind`."""
        return int(self.llm.n_tokens)

    def rewind(self, mark: int) -> None:
        """Back to an earlier `mark`: its last token again, so the next-token probabilities are its own."""
        self.llm.n_tokens = mark - 1
        self.feed([int(self.llm.input_ids[mark - 1])])

    def feed(self, tokens: list[int]) -> None:
        if self.stop.is_set():
            raise Stopped
        self.llm.eval(tokens)
        self.fed += len(tokens)

    def logprobs(self) -> np.ndarray:
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.vocab,))
        top = float(logits.max())
        return logits - (top + float(np.log(np.exp(logits - top).sum())))

    def share(self, options: list[list[int]]) -> np.ndarray:
        """The probabilities of the options' first tokens, normalised among them (nothing is fed)."""
        first = self.logprobs()
        scores = np.array([first[o[0]] for o in options])
        weights = np.exp(scores - scores.max())
        return np.asarray(weights / weights.sum())

    def choose(self, options: list[list[int]]) -> tuple[int, np.ndarray]:
        """Feed the most likely of `options` (token sequences), a token at a time, and return its index with
        the probabilities of the options' first tokens (normalised among them)."""
        alive = list(range(len(options)))
        first = self.logprobs()
        weights = np.exp(np.array([first[o[0]] for o in options]) - max(first[o[0]] for o in options))
        share = weights / weights.sum()
        depth, logprobs = 0, first
        while True:
            groups: dict[int, list[int]] = {}
            for i in alive:
                groups.setdefault(options[i][depth], []).append(i)
            best = max(groups, key=lambda token: float(logprobs[token]))
            alive, depth = groups[best], depth + 1
            finished = [i for i in alive if len(options[i]) == depth]
            if finished or len(alive) == 1:
                chosen = finished[0] if finished else alive[0]
                self.feed(options[chosen][depth - 1 :])
                return chosen, share
            self.feed([best])
            logprobs = self.logprobs()
