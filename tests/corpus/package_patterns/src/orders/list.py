import json

from src.orders.store import all_orders


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"orders": all_orders()})}
