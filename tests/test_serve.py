"""The launcher (explorer.ui.serve): what it changes in the server it hands over to."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from streamlit.web.server.starlette import starlette_server

from explorer.ui import serve

Bind = Callable[[str, int, int], socket.socket]


async def _served_nodelay(bind: Bind) -> int:
    """Serve on a listener from ``bind`` as uvicorn does (asyncio, ``sock=``); connect once.

    Return TCP_NODELAY as the server's side of the connection has it once asyncio has set it up.
    """
    loop = asyncio.get_running_loop()
    found: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    listener = bind("127.0.0.1", 0, 8)
    server = await loop.create_server(Probe, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(found, 10)
        finally:
            writer.close()


@pytest.fixture
def original_bind(monkeypatch: pytest.MonkeyPatch) -> Bind:
    """Give the test Streamlit's own bind, and put it back afterwards."""
    bind = starlette_server._bind_socket
    monkeypatch.setattr(starlette_server, "_bind_socket", bind)
    return bind


def test_streamlit_alone_leaves_nagle_on(original_bind: Bind) -> None:
    """Why the launcher steps in: Streamlit's own socket gets connections that delay small sends.

    When this fails, Streamlit (or asyncio) sets TCP_NODELAY itself and ``send_at_once`` can go.
    """
    assert asyncio.run(_served_nodelay(original_bind)) == 0


def test_the_launcher_sends_each_message_at_once(original_bind: Bind) -> None:
    """After send_at_once (called by main), every served connection has TCP_NODELAY; once."""
    serve.send_at_once()
    serve.send_at_once()
    patched = starlette_server._bind_socket
    assert patched.__wrapped__ is original_bind  # wrapped once, not twice
    assert asyncio.run(_served_nodelay(patched)) == 1
