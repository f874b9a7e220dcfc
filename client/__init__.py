"""The bundled client: it speaks the public protocol only (docs/client.md).

- `client.chat`: the terminal chat (`python -m client.chat --name alice`)
- `client.token`: print a dev token; `client.tokens`: mint one from Python
- `client.publish`: the publish API, and a demo feed of machine metrics
- `client.loadtest`: many connections, every delivery checked, the run priced
- `client/web/`: the web page (chat and a live dashboard), served by the local stack
- `client.protocol`: frame builders, and the protocol's facts (from `wschat_protocol`)
- `client.tls`: `--ca FILE` / `--insecure` for every client that connects
"""
