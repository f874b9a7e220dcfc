from shared.csvfmt import to_csv
from src.orders.store import all_orders


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/csv"},
        "body": to_csv(all_orders(), ["id", "item", "qty"]),
    }
