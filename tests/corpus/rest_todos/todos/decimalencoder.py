import decimal
import json


class DecimalEncoder(json.JSONEncoder):
    """DynamoDB hands numbers back as Decimal, which json cannot write."""

    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)
