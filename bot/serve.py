"""Serving the bot for `cce-upgrade-bot run`: HTTP, or Socket Mode plus the health endpoints."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.app import create_app
from bot.config import Config

__all__ = ["serve_forever"]

logger = logging.getLogger(__name__)


async def serve_forever(config: Config, *, host: str = "0.0.0.0") -> None:  # noqa: S104
    bot = create_app(config)
    await bot.start()
    runner = web.AppRunner(bot.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, config.settings.port)
    await site.start()
    socket_handler = None
    if config.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(
            bot.bolt, config.settings.slack_app_token.get_secret_value()
        )
        await socket_handler.connect_async()  # type: ignore[no-untyped-call]
        logger.info("bot.socket_mode.connected", extra={"port": config.settings.port})
    else:
        logger.info(
            "bot.http.listening", extra={"port": config.settings.port, "path": "/slack/events"}
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        logger.info("bot.stopping")
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        await bot.stop()
