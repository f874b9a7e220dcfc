"""The terminal chat client: `python -m client.chat --name alice`."""
