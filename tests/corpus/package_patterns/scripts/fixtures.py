def sample_orders():
    return [{"id": "o-9", "item": "cake", "qty": 3}]
