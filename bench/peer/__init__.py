"""The same handlers under serverless-offline@13 (the widely used peer) and under our
emulator, side by side: `python -m bench.peer` (see `bench.peer.__main__`)."""
