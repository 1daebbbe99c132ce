"""ClusterDirectory through the client and the simulator: aliases, names, ids, the cache.

What the API was asked is read off the simulator (`world.calls`); the cache's clock is a fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.cce.client import CCEClient, RetryPolicy
from bot.cce.clusters import (
    AmbiguousCluster,
    ClusterDirectory,
    ClustersUnavailable,
    InvalidClusterName,
    UnknownCluster,
)
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.config import BotConfig, Config, Settings
from bot.simulator import RunningSimulator, World, default_world, running_simulator
from tests.e2e import DEV, PROD, PROJECT, QA, STAGING

OTHER = "0123456789abcdef0123456789abcdef"
TWIN = "11111111-2222-4333-8444-555555555555"  # another prod-eu, in project OTHER
LONE = "11111111-2222-4333-8444-666666666666"  # lab-eu, only in project OTHER
NOWHERE = "99999999-2222-4333-8444-555555555555"
UNLISTABLE = "fedcba9876543210fedcba9876543210"  # a project the simulator does not know


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world() -> World:
    world = default_world()
    world.add_cluster(TWIN, name="prod-eu", version="v1.30", project_id=OTHER)
    world.add_cluster(LONE, name="lab-eu", project_id=OTHER)
    return world


@pytest.fixture
async def sim(world: World) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(world) as running:
        yield running


@pytest.fixture
async def cce() -> AsyncIterator[CCEClient]:
    client = CCEClient(
        httpx.AsyncClient(timeout=5.0), retry=RetryPolicy(attempts=2, wait_initial=0.01)
    )
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


Make = Callable[..., ClusterDirectory]


@pytest.fixture
def make(sim: RunningSimulator, cce: CCEClient, clock: Clock) -> Make:
    def build(
        aliases: dict[str, str] | None = None,
        projects: tuple[str, ...] = (PROJECT,),
        default: str | None = None,
    ) -> ClusterDirectory:
        return ClusterDirectory(
            aliases={a: ClusterRef(PROJECT, c, sim.url) for a, c in (aliases or {}).items()},
            projects=[ProjectRef(p, sim.url) for p in projects],
            default_project=ProjectRef(default, sim.url) if default else None,
            cce=cce,
            clock=clock,
        )

    return build


def lists(sim: RunningSimulator) -> list[str]:
    """The projects listed so far, in order."""
    return [c.path.split("/")[4] for c in sim.world.calls if c.path.endswith("/clusters")]


async def test_an_alias_wins_over_a_name_and_needs_no_request(
    sim: RunningSimulator, make: Make
) -> None:
    directory = make(aliases={"prod-eu": STAGING})
    found = await directory.resolve("prod-eu")
    assert (found.alias, found.cluster_id, found.project_id) == ("prod-eu", STAGING, PROJECT)
    assert await directory.resolve("PROD-EU") == found  # aliases fold case too
    assert sim.world.calls == []


async def test_a_name_is_found_case_insensitively_and_kept_for_the_ttl(
    sim: RunningSimulator, make: Make, clock: Clock
) -> None:
    directory = make()
    found = await directory.resolve("Staging-EU")
    assert (found.name, found.cluster_id, found.alias) == ("staging-eu", STAGING, None)
    assert (found.version, found.phase) == ("v1.28", "Upgrading")
    assert found.ref == ClusterRef(PROJECT, STAGING, sim.url)
    assert (await directory.resolve("dev-eu")).cluster_id == DEV
    assert lists(sim) == [PROJECT]  # one list served both
    clock.now += timedelta(minutes=5)
    assert (await directory.resolve("qa-eu")).cluster_id == QA
    assert lists(sim) == [PROJECT, PROJECT]


async def test_a_miss_lists_again_once(sim: RunningSimulator, make: Make, world: World) -> None:
    directory = make()
    await directory.resolve("prod-eu")
    world.add_cluster(NOWHERE, name="new-eu")
    assert (await directory.resolve("new-eu")).cluster_id == NOWHERE
    assert lists(sim) == [PROJECT, PROJECT]
    with pytest.raises(UnknownCluster) as info:
        await directory.resolve("prod-us")
    assert lists(sim) == [PROJECT] * 3  # once more for the miss, not in a loop
    message = str(info.value)
    assert "`prod-us`" in message and "`prod-eu`" in message and "/cce-upgrade clusters" in message
    assert "new-eu" in info.value.known


async def test_concurrent_lookups_share_one_list_call(sim: RunningSimulator, make: Make) -> None:
    directory = make(projects=(PROJECT, OTHER))
    found = await asyncio.gather(*(directory.resolve(n) for n in ["qa-eu", "dev-eu"] * 10))
    assert {f.cluster_id for f in found} == {QA, DEV}
    assert sorted(lists(sim)) == [OTHER, PROJECT]
    misses = await asyncio.gather(
        *(directory.resolve("nope-eu") for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(m, UnknownCluster) for m in misses)
    assert sorted(lists(sim)) == [OTHER, OTHER, PROJECT, PROJECT]  # one more list, shared


async def test_a_name_in_two_projects_is_not_guessed(sim: RunningSimulator, make: Make) -> None:
    directory = make(projects=(PROJECT, OTHER))
    with pytest.raises(AmbiguousCluster) as info:
        await directory.resolve("prod-eu")
    candidates = {(c.name, c.cluster_id, c.project_id) for c in info.value.candidates}
    assert candidates == {("prod-eu", PROD, PROJECT), ("prod-eu", TWIN, OTHER)}
    for ident in (PROD, TWIN, PROJECT, OTHER):
        assert ident in str(info.value)
    assert (await directory.resolve("lab-eu")).ref == ClusterRef(OTHER, LONE, sim.url)
    assert (await directory.resolve(TWIN)).name == "prod-eu"  # the id is not ambiguous


async def test_raw_ids_resolve_in_a_listed_project_else_the_default(
    sim: RunningSimulator, make: Make
) -> None:
    directory = make(projects=(PROJECT, OTHER), default=PROJECT)
    assert (await directory.resolve(LONE.upper())).ref == ClusterRef(OTHER, LONE, sim.url)
    unlisted = await directory.resolve(NOWHERE)
    assert (unlisted.ref, unlisted.name) == (ClusterRef(PROJECT, NOWHERE, sim.url), None)
    with pytest.raises(UnknownCluster, match="CCE_PROJECT_ID"):
        await make(projects=(OTHER,)).resolve(NOWHERE)


async def test_an_id_of_an_aliased_cluster_gets_its_alias_without_a_request(
    sim: RunningSimulator, make: Make
) -> None:
    directory = make(aliases={"the-prod": PROD}, projects=())
    assert (await directory.resolve(PROD)).alias == "the-prod"
    with pytest.raises(UnknownCluster):
        await directory.resolve(QA)  # nothing to list, no default project
    assert sim.world.calls == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "prod eu",
        "../prod",
        "prod/eu",
        "%2fprod",
        "prod-eu\n",
        "-prod",
        "x" * 129,
        "prod`eu",
        "прод",
        f"{PROD}/..",
        f"{PROD[:-1]}\u0664",
        "a\x00b",
    ],
    ids=repr,
)
async def test_malformed_text_is_refused_before_any_request(
    sim: RunningSimulator, make: Make, text: str
) -> None:
    directory = make(projects=(PROJECT,), default=PROJECT)
    with pytest.raises(InvalidClusterName) as info:
        await directory.resolve(text)
    assert len(str(info.value)) < 300
    with pytest.raises(InvalidClusterName):
        directory.peek(text)
    assert sim.world.calls == []


async def test_a_project_that_cannot_be_listed_matters_only_when_the_name_is_not_found(
    sim: RunningSimulator, make: Make, clock: Clock
) -> None:
    directory = make(aliases={"the-qa": QA}, projects=(PROJECT, UNLISTABLE))
    assert (await directory.resolve("the-qa")).cluster_id == QA
    assert (await directory.resolve("dev-eu")).cluster_id == DEV
    assert (await directory.resolve(STAGING)).name == "staging-eu"
    with pytest.raises(ClustersUnavailable) as info:
        await directory.resolve("lab-eu")
    [unlisted] = info.value.unlisted
    assert unlisted.project.project_id == UNLISTABLE
    assert unlisted.request_id and unlisted.request_id in str(info.value)
    assert f"project {UNLISTABLE}" in str(info.value) and "HTTP 404" in str(info.value)
    # The failed project is not asked again at every lookup, only after a while.
    assert lists(sim).count(UNLISTABLE) == 1
    clock.now += timedelta(seconds=31)
    with pytest.raises(ClustersUnavailable):
        await directory.resolve("lab-eu")
    assert lists(sim).count(UNLISTABLE) == 2


async def test_a_failed_refresh_keeps_the_last_good_list(
    sim: RunningSimulator, make: Make, clock: Clock
) -> None:
    directory = make()
    await directory.resolve("prod-eu")
    clock.now += timedelta(minutes=6)
    sim.faults.fail_next(503, count=2)  # both attempts of the refresh
    assert (await directory.resolve("qa-eu")).cluster_id == QA
    listing = await directory.clusters()
    assert [u.project.project_id for u in listing.unlisted] == [PROJECT]
    assert len(listing.clusters) == 4


async def test_peek_answers_from_aliases_and_a_fresh_cache_only(
    sim: RunningSimulator, make: Make, clock: Clock
) -> None:
    directory = make(aliases={"the-qa": QA}, default=PROJECT)
    assert directory.peek("the-qa") is not None
    assert directory.peek("prod-eu") is None  # not listed yet, and peek never asks
    assert sim.world.calls == []
    await directory.resolve("dev-eu")
    found = directory.peek("PROD-EU")
    assert found is not None and (found.cluster_id, found.version) == (PROD, "v1.28")
    peeked_id = directory.peek(NOWHERE)
    assert peeked_id is not None and peeked_id.project_id == PROJECT  # the default project
    assert directory.peek("nope-eu") is None  # resolve will list again before saying no
    clock.now += timedelta(minutes=5)
    assert directory.peek("prod-eu") is None
    assert lists(sim) == [PROJECT]


async def test_clusters_shows_everything_the_bot_can_see(sim: RunningSimulator, make: Make) -> None:
    directory = make(aliases={"the-qa": QA}, projects=(PROJECT, OTHER, UNLISTABLE))
    listing = await directory.clusters()
    seen = [(f.alias, f.name, f.cluster_id, f.project_id, f.version) for f in listing.clusters]
    assert seen == [
        ("the-qa", "qa-eu", QA, PROJECT, "v1.28"),
        (None, "prod-eu", PROD, PROJECT, "v1.28"),
        (None, "staging-eu", STAGING, PROJECT, "v1.28"),
        (None, "dev-eu", DEV, PROJECT, "v1.29"),
        (None, "prod-eu", TWIN, OTHER, "v1.30"),
        (None, "lab-eu", LONE, OTHER, "v1.28"),
    ]
    assert listing.clusters[2].phase == "Upgrading"
    assert [u.project.project_id for u in listing.unlisted] == [UNLISTABLE]


async def test_suggest_filters_by_what_was_typed(sim: RunningSimulator, make: Make) -> None:
    directory = make(aliases={"the-qa": QA}, projects=(PROJECT, OTHER))
    assert [f.label for f in await directory.suggest("la")] == ["lab-eu"]
    assert [f.label for f in await directory.suggest("QA")] == ["the-qa"]  # by name, too
    assert [f.label for f in await directory.suggest("-eu")] == [
        "the-qa",
        "prod-eu",
        "staging-eu",
        "dev-eu",
        "prod-eu",
        "lab-eu",
    ]
    assert [f.label for f in await directory.suggest("d")][:2] == ["dev-eu", "the-qa"]
    assert [f.cluster_id for f in await directory.suggest(LONE[-12:])] == [LONE]
    assert len(await directory.suggest("", limit=3)) == 3
    assert await directory.suggest("../zz") == []
    assert lists(sim).count(PROJECT) == 1


async def test_suggestions_follow_a_new_list_of_the_clusters(
    sim: RunningSimulator, make: Make, world: World, clock: Clock
) -> None:
    """Suggestions are kept per typed text until the clusters are listed again: a cluster added
    since shows up once the list is refreshed, and the version shown is the new one."""
    directory = make()
    assert [f.label for f in await directory.suggest("new")] == []
    world.add_cluster(NOWHERE, name="new-eu", version="v1.31")
    assert [f.label for f in await directory.suggest("new")] == []  # the list is still fresh
    clock.now += timedelta(minutes=5)
    [found] = await directory.suggest("new")
    assert (found.label, found.version) == ("new-eu", "v1.31")
    assert lists(sim) == [PROJECT, PROJECT]


def test_the_config_builds_the_directory_inputs() -> None:
    settings = Settings(cce_project_id=PROJECT, cce_region="cn-north-4")
    bot = BotConfig.model_validate(
        {
            "projects": [
                {"project_id": OTHER, "endpoint": "https://cce.example.test"},
                {"project_id": PROJECT},
            ],
            "clusters": {"prod-eu": {"cluster_id": PROD, "region": "eu-west-101"}},
        }
    )
    config = Config(settings, bot)
    assert config.alias_refs() == {
        "prod-eu": ClusterRef(PROJECT, PROD, "https://cce.eu-west-101.myhuaweicloud.eu")
    }
    assert config.project_refs() == [
        ProjectRef(OTHER, "https://cce.example.test"),
        ProjectRef(PROJECT, "https://cce.cn-north-4.myhuaweicloud.com"),
    ]
    assert config.default_project() == ProjectRef(
        PROJECT, "https://cce.cn-north-4.myhuaweicloud.com"
    )
    assert Config(Settings(), BotConfig()).default_project() is None
