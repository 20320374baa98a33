"""Helpers the tests share: a real nats-server, the whole stack as processes, a real browser."""
