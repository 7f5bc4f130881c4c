"""The launcher (explorer.ui.serve): what it changes in the server it hands over to."""

from __future__ import annotations

import socket

import pytest
from streamlit.web.server.starlette import starlette_server

from explorer.ui import serve


def _accepted_nodelay(bind: object) -> int:
    """Bind a listener with ``bind``, connect to it, return the accepted socket's TCP_NODELAY."""
    listener = bind("127.0.0.1", 0, 8)
    with listener, socket.create_connection(listener.getsockname()[:2]):
        listener.setblocking(True)
        accepted, _ = listener.accept()
        with accepted:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.fixture
def original_bind(monkeypatch: pytest.MonkeyPatch) -> object:
    """Give the test Streamlit's own bind, and put it back afterwards."""
    bind = starlette_server._bind_socket
    monkeypatch.setattr(starlette_server, "_bind_socket", bind)
    return bind


def test_streamlit_alone_leaves_nagle_on(original_bind: object) -> None:
    """Why the launcher steps in: a connection to Streamlit's own socket delays small sends.

    When this fails, Streamlit sets TCP_NODELAY itself and ``send_at_once`` can go.
    """
    assert _accepted_nodelay(original_bind) == 0


def test_the_launcher_sends_each_message_at_once(original_bind: object) -> None:
    """After send_at_once (called by main), every accepted connection has TCP_NODELAY, once."""
    serve.send_at_once()
    serve.send_at_once()
    patched = starlette_server._bind_socket
    assert patched.__wrapped__ is original_bind  # wrapped once, not twice
    assert _accepted_nodelay(patched) == 1
