ORDERS = [
    {"id": "o-1", "item": "coffee", "qty": 2},
    {"id": "o-2", "item": "tea", "qty": 1},
]


def all_orders():
    return list(ORDERS)
