"""`python -m infra.dynamodb [HOST]`: the embedded DynamoDB/SSM server process."""

import sys

from infra.dynamodb.server import main

main(sys.argv[1:])
