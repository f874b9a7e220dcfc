from src.orders.list import handler


def test_lists_orders():
    assert handler({}, None)["statusCode"] == 200
