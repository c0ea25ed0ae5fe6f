"""api — everything a person or program calls: the command line (and, later, the HTTP API
and web page). Imports from every layer below; nothing imports from it."""
