"""The publisher: `python -m client.publish --room feed:cpu --data '{"cpu": 0.41}'` or `--demo`."""
