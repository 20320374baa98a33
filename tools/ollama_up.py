"""Exit 0 when an Ollama server answers at OLLAMA_HOST, 1 otherwise (the Makefile asks before installing
the embedded model)."""

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


if __name__ == "__main__":
    sys.exit(0 if ollama_answers(os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")) else 1)
