import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def handler(event, context):
    ctx = event["requestContext"]
    route = ctx["routeKey"]
    logger.info("route %s from %s", route, ctx["connectionId"])
    if route == "$connect":
        return {"statusCode": 200}
    if route == "echo":
        body = json.loads(event["body"])
        return {
            "statusCode": 200,
            "body": json.dumps(
                {
                    "echo": body.get("message"),
                    "stage": ctx["stage"],
                    "stageName": os.environ["STAGE_NAME"],
                    "endpoint": os.environ["API_ENDPOINT"],
                    "apiId": ctx["apiId"],
                    "traced": "TRACE_HEADER" in os.environ,
                    "function": context.function_name,
                }
            ),
        }
    # $default: no route response is configured, so nothing reaches the client.
    return {"statusCode": 200, "body": "unheard"}
