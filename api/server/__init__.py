"""The HTTP API and web page: a FastAPI app over the store (`symbiosis serve`).

`create_app(settings)` in `api.server.app` builds it. Modules: settings (SYMBIOSIS_ env),
state (keys, run jobs, proposals: a SQLite file of the server's own), auth (hashed API keys,
roles and scopes), region (the store's dataset, cached, edited all or nothing), jobs (match
runs in the background), schemas (request and response models), errors (one JSON error
shape), and the routes.
"""
