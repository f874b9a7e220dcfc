"""Two people chatting in the web page."""

from __future__ import annotations

import asyncio
import itertools

from playwright.async_api import Locator, Page, expect

from client.tokens import mint_token
from infra.stack import LocalStack
from tests.browser.conftest import OpenPage
from tests.conftest import scaled
from tests.integration.client.peer import Peer
from tests.integration.client.proxy import CuttableProxy
from tests.tokens import chat_secret, chat_token

_rooms = itertools.count()


def fresh_room() -> str:
    return f"web{next(_rooms)}"


def log(page: Page) -> Locator:
    """The message list on screen."""
    return page.locator("#logs .log:not([hidden])")


async def say(page: Page, text: str) -> None:
    await page.fill("#composer-input", text)
    await page.click("#send-btn")


async def test_two_pages_chat_with_presence_and_members(open_page: OpenPage) -> None:
    room = fresh_room()
    # Two rooms to join: the first one asked for is current, whichever answer comes first.
    alice = await open_page("alice", "Alice", room=[room, f"{room}-side"])
    await expect(alice.locator("#status")).to_have_text("online as Alice")
    await expect(alice.locator("#rooms li")).to_have_count(2)
    await expect(alice.locator("#room-title")).to_have_text(f"#{room}")

    bob = await open_page("bob", "Bob", room=room)
    await expect(alice.locator(".system-text").last).to_have_text("Bob joined")
    await expect(alice.locator("#members .member-name")).to_have_text(["Alice", "Bob"])

    await say(alice, "hello bob")
    msg = bob.locator("#logs .log:not([hidden]) .msg").last
    await expect(msg.locator(".msg-from")).to_have_text("Alice")
    await expect(msg.locator(".msg-text")).to_have_text("hello bob")

    await say(bob, "hi alice")
    await expect(alice.locator("#logs .log:not([hidden]) .msg-text")).to_have_text(
        ["hello bob", "hi alice"]
    )
    # Your own messages are marked as yours.
    await expect(alice.locator(".msg.mine .msg-text")).to_have_text(["hello bob"])

    await bob.close()
    await expect(alice.locator(".system-text").last).to_have_text("Bob left")
    await expect(alice.locator("#members .member-name")).to_have_text(["Alice"])


async def test_markup_from_users_is_shown_as_text(open_page: OpenPage) -> None:
    room = fresh_room()
    alice = await open_page("alice", "Alice", room=room)
    bob = await open_page("bob", "<b>Bob</b>", room=room)
    await expect(alice.locator("#members .member-name")).to_have_count(2)
    evil = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
    await say(bob, evil)
    msg = alice.locator("#logs .log:not([hidden]) .msg").last
    await expect(msg.locator(".msg-text")).to_have_text(evil)
    await expect(msg.locator(".msg-from")).to_have_text("<b>Bob</b>")
    assert await alice.locator("#logs script, #logs img, #logs b, #members b").count() == 0
    assert await alice.evaluate("window.pwned") is None


async def test_direct_messages_from_the_member_list(open_page: OpenPage) -> None:
    room = fresh_room()
    alice = await open_page("alice", "Alice", room=room)
    bob = await open_page("bob", "Bob", room=room)
    await expect(bob.locator("#members .member")).to_have_count(2)
    await bob.click("#members .member[data-user=alice] .dm")
    await expect(bob.locator("#room-title")).to_have_text("direct: Alice")
    await say(bob, "just between us")

    convo = alice.locator("#directs li[data-user=bob]")
    await expect(convo.locator(".badge")).to_have_text("1")  # unread
    await convo.locator(".pick").click()
    await expect(alice.locator("#room-title")).to_have_text("direct: Bob")
    await expect(log(alice).locator(".msg-text")).to_have_text(["just between us"])
    await say(alice, "ok")
    await expect(log(bob).locator(".msg-text")).to_have_text(["just between us", "ok"])
    # Nothing of it shows in the room.
    await alice.click(f"#rooms li[data-room={room}] .pick")
    await expect(log(alice).locator(".msg")).to_have_count(0)


async def test_older_messages_load_in_pages(open_page: OpenPage, web_stack: LocalStack) -> None:
    room = fresh_room()
    carol = await Peer.open(web_stack, "carol", "Carol")
    await carol.join(room)
    for n in range(25):
        await carol.say(room, f"m{n:02d}")
    await carol.close()

    alice = await open_page("alice", "Alice", room=room)
    texts = alice.locator("#logs .log:not([hidden]) .msg-text")
    await expect(texts).to_have_count(20)  # what `joined` brings
    await expect(texts.first).to_have_text("m05")
    await alice.click("#older-btn")
    await expect(texts).to_have_text([f"m{n:02d}" for n in range(25)])
    # The service said so: nothing older.
    await expect(alice.locator("#older-btn")).to_be_hidden()
    await expect(log(alice).locator(".system").first).to_have_text("no older messages")


async def test_dev_login_takes_a_pasted_token(open_page: OpenPage, web_stack: LocalStack) -> None:
    page = await open_page(None)
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()
    await page.fill("#token-input", chat_token(web_stack, "dave", name="Dave"))
    await page.click("#connect-btn")
    await expect(page.locator("#status")).to_have_text("online as Dave")
    await expect(page.locator("#login")).to_be_hidden()
    await expect(page.locator("#rooms li[data-room=general]")).to_be_visible()


async def test_a_token_in_the_address_fragment_logs_in_and_leaves_the_address(
    open_page: OpenPage,
) -> None:
    page = await open_page("erin", "Erin", room=fresh_room())
    await expect(page.locator("#status")).to_have_text("online as Erin")
    assert "token" not in page.url  # not kept in the address bar, history or bookmarks
    assert "room=" in page.url


async def test_refused_and_expired_tokens_are_told_apart(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    page = await open_page(None)
    cases = {
        "not-a-token": "not a token",
        mint_token("mallory", secret="not-the-service-secret-0123456789"): "refused this token",
        mint_token("erin", secret=chat_secret(web_stack), ttl_s=-60): "The token expired at",
    }
    for token, message in cases.items():
        await page.fill("#token-input", token)
        await page.click("#connect-btn")
        await expect(page.locator("#login-error")).to_contain_text(message)
        await expect(page.locator("#app")).to_be_hidden()


async def test_links_in_messages_are_clickable_and_nothing_else_is(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = fresh_room()
    alice = await open_page("alice", "Alice", room=room)
    await expect(alice.locator("#status")).to_have_text("online as Alice")
    bob = await Peer.open(web_stack, "bob", "Bob")
    await bob.join(room)
    text = (
        "see https://example.com/a?b=1&c=2#top, or javascript:alert(1) "
        'and <a href="javascript:alert(2)">this</a> <i>x</i>.'
    )
    await bob.say(room, text)
    msg = log(alice).locator(".msg-text").last
    await expect(msg).to_have_text(text)  # every character shown as typed
    links = msg.locator("a")
    await expect(links).to_have_count(1)
    await expect(links).to_have_attribute("href", "https://example.com/a?b=1&c=2#top")
    await expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(links).to_have_text("https://example.com/a?b=1&c=2#top")  # not the comma
    assert await alice.locator("#logs i").count() == 0
    await bob.close()


async def test_55_quick_sends_all_arrive_exactly_once(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = fresh_room()
    alice = await open_page("alice", "Alice", room=room)
    await expect(alice.locator("#status")).to_have_text("online as Alice")
    watcher = await Peer.open(web_stack, "watcher")
    await watcher.join(room)
    sent: list[str] = []
    # 55 sends in a burst pass the default limit (50 frames per 10 s) inside one window,
    # unless the burst straddles two: then a second burst surely does not.
    for burst in range(2):
        texts = [f"quick{burst}-{n:02d}" for n in range(55)]
        for text in texts:
            await alice.fill("#composer-input", text)
            await alice.press("#composer-input", "Enter")
        sent += texts
        if await alice.evaluate("window.wschat.stats.rateLimited") > 0:
            break
    assert await alice.evaluate("window.wschat.stats.rateLimited") > 0

    got: list[str] = []
    async with asyncio.timeout(scaled(40)):
        while len(got) < len(sent):
            frame = await watcher.until(lambda f: f.get("type") == "message", within=30)
            got.append(frame["text"])
    assert sorted(got) == sorted(sent)  # each one exactly once
    await expect(log(alice).locator(".msg.mine:not(.pending)")).to_have_count(len(sent))
    await expect(alice.locator(".msg.pending")).to_have_count(0)
    await watcher.close()


async def test_after_a_network_cut_the_page_reconnects_and_catches_up(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = fresh_room()
    relay = CuttableProxy(web_stack.host, web_stack.port)
    port = await relay.start()
    try:
        ws = f"ws://127.0.0.1:{port}/{web_stack.stage}"
        # A quiet room: nothing shown yet, so there is no message to page back to.
        alice = await open_page("alice", "Alice", room=room, ws=ws, backoff="1")
        await expect(alice.locator("#status")).to_have_text("online as Alice")
        # In the room before the cut (the join's answer may come after "online").
        await expect(alice.locator("#room-title")).to_have_text(f"#{room}")
        texts = log(alice).locator(".msg:not(.pending) .msg-text")
        bob = await Peer.open(web_stack, "bob", "Bob")
        await bob.join(room)

        relay.cut(refuse=True)
        await expect(alice.locator("#status")).to_have_attribute("data-state", "offline")
        missed = [f"missed{n:02d}" for n in range(30)]  # more than `joined` carries
        for text in missed:
            await bob.say(room, text)
        await say(alice, "typed while offline")
        pending = log(alice).locator(".msg.pending")
        await expect(pending.locator(".msg-state")).to_have_text("waiting for the connection")
        relay.refusing = False

        await expect(alice.locator("#status")).to_have_text("online as Alice")
        await bob.say(room, "during the reconnect")
        await expect(texts).to_have_count(32)
        shown = await texts.all_text_contents()
        theirs = [t for t in shown if t != "typed while offline"]
        assert theirs == [*missed, "during the reconnect"]  # all, once, in order
        assert shown.count("typed while offline") == 1
        await expect(pending).to_have_count(0)
        await bob.close()
    finally:
        await relay.close()
