import json
import os
import platform
import sys

import boto3


def report(event, context):
    body = {
        "python": platform.python_version(),
        "version_info": list(sys.version_info[:2]),
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "boto3": boto3.__version__,
    }
    return {"statusCode": 200, "body": json.dumps(body)}
