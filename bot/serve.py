"""Serving the bot for `cce-upgrade-bot run`: the ops port always, then HTTP or Socket Mode.

`/healthz`, `/readyz` and `/metrics` are on `OPS_PORT` (`bot.ops`) in both modes; the Slack port
(`PORT`) is opened only in HTTP mode and serves nothing but `POST /slack/events` (SPEC §7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from bot.app import create_app
from bot.config import Config

__all__ = ["serve_forever"]

logger = logging.getLogger(__name__)


async def _listen(
    exits: contextlib.AsyncExitStack, app: web.Application, host: str, port: int
) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    exits.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, host, port).start()


async def serve_forever(config: Config, *, host: str = "0.0.0.0") -> None:  # noqa: S104
    settings = config.settings
    bot = create_app(config)
    await bot.start()
    async with contextlib.AsyncExitStack() as exits:
        exits.push_async_callback(bot.stop)  # last out: after the servers and the socket
        await _listen(exits, bot.ops_app(), host, settings.ops_port)
        logger.info("bot.ops.listening", extra={"port": settings.ops_port})
        if settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_handler = AsyncSocketModeHandler(
                bot.bolt, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            exits.push_async_callback(socket_handler.close_async)
            logger.info("bot.socket_mode.connected")
        else:
            await _listen(exits, bot.web_app(), host, settings.port)
            logger.info(
                "bot.http.listening", extra={"port": settings.port, "path": "/slack/events"}
            )
        exits.callback(logger.info, "bot.stopping")  # first out, however serving ends
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
