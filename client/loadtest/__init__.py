"""The load tester: `python -m client.loadtest --url URL --connections N --rooms R ...`."""
