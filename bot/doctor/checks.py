"""The result of one pre-flight check, and the runner that bounds each check and never raises.

A check is a coroutine returning a `Check`; the runner gives each one its own timeout and turns a
timeout or an unexpected exception into a failed `Check` with what to do, so one broken service
never hides the others. Calls that several checks read (one `auth.test` for the token and the
scopes, one probe for a project and its gateway's clock) are made once through `Shared`.
Imports nothing from the bot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Check", "Planned", "Shared", "run_checks"]

T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One line of `doctor`: what was checked, whether it passed, what was seen, what to do.

    A `warning` passes (the exit status stays 0) but still says what to do.
    """

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False

    @classmethod
    def passed(cls, name: str, detail: str) -> Check:
        return cls(name, True, detail)

    @classmethod
    def warned(cls, name: str, detail: str, fix: str) -> Check:
        return cls(name, True, detail, fix, warning=True)

    @classmethod
    def failed(cls, name: str, detail: str, fix: str) -> Check:
        return cls(name, False, detail, fix)


@dataclass(frozen=True)
class Planned:
    """A check to run: its name, the coroutine, and what to do if it gets no answer in time."""

    name: str
    run: Callable[[], Awaitable[Check]]
    timeout_fix: str


class Shared(Generic[T]):
    """One call whose outcome several checks read: made by the first to ask, awaited by all.

    The outcome is the value or the exception it raised (returned, not raised), so no check's
    timeout cancels the call for the others and no exception is left unretrieved.
    """

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self._task: asyncio.Task[T | Exception] | None = None

    async def _outcome(self) -> T | Exception:
        try:
            return await self._call()
        except Exception as exc:  # the outcome of the call, for each reader to explain
            return exc

    async def get(self) -> T | Exception:
        if self._task is None:
            self._task = asyncio.ensure_future(self._outcome())
        return await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Cancel the call if no reader waited for its end (every reader timed out)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def run_checks(
    planned: Sequence[Planned], *, each_within: float, concurrency: int = 8
) -> list[Check]:
    """Run every check, at most `concurrency` at once, each within `each_within` seconds (counted
    from its start, not from its wait for a turn); results in the planned order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Planned) -> Check:
        async with gate:
            try:
                async with asyncio.timeout(each_within):
                    return await item.run()
            except TimeoutError:
                return Check.failed(
                    item.name, f"no answer within {each_within:g} s", item.timeout_fix
                )
            except Exception as exc:  # a bug in a check must not hide the other checks
                return Check.failed(
                    item.name,
                    f"the check itself failed ({type(exc).__name__}: {exc})",
                    "this is a bug in `cce-upgrade-bot doctor`: please report it with this line",
                )

    return list(await asyncio.gather(*(one(item) for item in planned)))
