"""The ghostbus contract: subjects, messages and the command language shared by every service."""
