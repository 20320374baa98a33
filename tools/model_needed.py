"""Exit 0 when `make run` needs the embedded model, 1 when it does not, saying why.

Not needed when LLM_BACKEND names another backend (ollama, openai, scripted), or when it is `auto`
(the default) and an Ollama server answers at OLLAMA_HOST: the worker would use that instead."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def ollama_answers(host: str, timeout: float = 1.0) -> bool:
    """True when `GET {host}/api/tags` answers with JSON."""
    url = host.rstrip("/") + "/api/tags"
    if "://" not in url:
        url = "http://" + url
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            json.load(response)
            return True
    except (OSError, urllib.error.URLError, ValueError):
        return False


def reason_not_needed(backend: str, ollama_host: str) -> str | None:
    """Why the embedded model is not needed, or None when it is."""
    if backend in ("ollama", "openai", "scripted"):
        return f"LLM_BACKEND={backend}"
    if backend == "auto" and ollama_answers(ollama_host):
        return f"Ollama answers at {ollama_host}"
    return None


if __name__ == "__main__":
    backend = os.environ.get("LLM_BACKEND", "auto").strip().lower() or "auto"
    reason = reason_not_needed(backend, os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434"))
    if reason is not None:
        print(f"ghostbus: {reason}; the embedded model is not needed")
    sys.exit(0 if reason is None else 1)
