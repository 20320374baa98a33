#!/bin/sh
# The upstream image's rule: when the first argument is a flag (or there is none), it is for nats-server.
set -e
case "${1:-}" in
  ''|-*) set -- nats-server "$@" ;;
esac
exec "$@"
