"""The campaign scan against every way a server may page: it finds every campaign that existed, or it refuses.

The scan is a pure algorithm over a ``fetch`` function; here ``fetch`` is a model of the server's list that
can cap pages, honour skip or page or neither, leave out its paging facts, and let others create and delete
campaigns between two reads. The HTTP side of the same matrix runs against the sandbox in test_server_variants.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.api.campaign import Campaign, iso_timestamp
from provisioner.api.listing import CampaignPage, Listing, PageQuery, scan_campaigns
from provisioner.errors import ListingError

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
Paging = Literal["skip", "page", "both", "neither"]


@dataclass
class Model:
    """A server's campaign list, oldest first, paged as configured."""

    count: int
    cap: int | None = None
    paging: Paging = "both"
    reports: bool = True  # data.skip and data.limit
    counts: bool = True  # totalResults
    churn: Callable[[Model], None] | None = None  # what others do before each read is answered
    records: list[Campaign] = field(default_factory=list)
    calls: int = 0
    made: int = 0

    def __post_init__(self) -> None:
        for _ in range(self.count):
            self.create()

    def create(self) -> None:
        self.made += 1
        created = iso_timestamp(T0 + dt.timedelta(seconds=self.made))
        self.records.append(Campaign(f"cd-{self.made:05}", f"Campaign {self.made}", "Ready", {"createdAt": created}))

    def delete(self, index: int) -> None:
        if self.records:
            del self.records[index % len(self.records)]

    async def fetch(self, query: PageQuery) -> CampaignPage:
        self.calls += 1
        if self.churn is not None:
            self.churn(self)
        limit = min(query.limit, self.cap) if self.cap else query.limit
        offset = {"skip": query.skip, "both": query.skip, "page": (query.page - 1) * limit, "neither": 0}[self.paging]
        rows = self.records[offset : offset + limit]
        return CampaignPage(
            campaigns=rows,
            skip=offset if self.reports else None,
            limit=limit if self.reports else None,
            total=len(self.records) if self.counts else None,
            has_more=offset + len(rows) < len(self.records),
        )


def scan(model: Model, page_size: int = 100, **options: Any) -> Listing:
    return asyncio.run(scan_campaigns(model.fetch, now=NOW, page_size=page_size, **options))


def ids(listing: Listing) -> set[str]:
    return {c.id for c in listing.campaigns}


@pytest.mark.parametrize("paging", ["skip", "both", "page"])
@pytest.mark.parametrize("reports", [True, False])
@pytest.mark.parametrize("cap", [None, 50, 7])
def test_every_campaign_is_found_whatever_the_paging(paging: Paging, reports: bool, cap: int | None) -> None:
    model = Model(130, cap=cap, paging=paging, reports=reports)
    listing = scan(model)
    assert ids(listing) == {c.id for c in model.records}
    assert len(listing.campaigns) == 130
    assert listing.page_size == (cap or 100)
    assert listing.paging == ("page" if paging == "page" else "skip")


def test_a_server_that_honours_no_paging_field_is_refused_not_trusted() -> None:
    with pytest.raises(ListingError, match="honours neither 'skip' nor 'page'"):
        scan(Model(130, paging="neither"))


def test_a_server_that_says_nothing_about_totals_is_read_to_its_last_short_page() -> None:
    model = Model(250, cap=50, reports=False, counts=False)
    assert len(scan(model).campaigns) == 250


def test_skip_paging_costs_about_one_request_per_page() -> None:
    model = Model(1000)
    listing = scan(model)
    assert len(listing.campaigns) == 1000
    # One record of overlap per page: 11 requests where 10 pages hold them; the sync budget allows ⌈N/page⌉ + 5.
    assert model.calls == listing.requests == 11
    assert model.calls <= math.ceil(1000 / 100) + 5


def test_page_only_paging_reads_the_list_twice_to_vouch_for_it() -> None:
    model = Model(130, paging="page", cap=50)
    assert len(scan(model).campaigns) == 130
    # The first page, the probe that shows skip ignored, the rest of the first pass (its first page is the one
    # already read), a second pass of 3.
    assert model.calls == 1 + 1 + 2 + 3


def test_a_poll_reads_a_page_only_list_once_and_says_it_is_not_vouched_for() -> None:
    model = Model(130, paging="page", cap=50)
    listing = scan(model, vouch=False, paging="page")
    assert len(listing.campaigns) == 130 and not listing.vouched
    assert model.calls == 3  # ⌈130 / 50⌉: no probe of skip, one pass
    skipping = Model(130, cap=50)
    assert scan(skipping, vouch=False).vouched  # with skip the overlap proves it at no extra cost


def test_campaigns_created_during_the_scan_do_not_hide_older_ones() -> None:
    model = Model(130, cap=50, churn=lambda m: [m.create() for _ in range(3)])
    before = {f"cd-{i:05}" for i in range(1, 131)}
    assert before <= ids(scan(model))


def test_a_deletion_during_the_scan_is_noticed_and_the_list_read_again() -> None:
    def delete_oldest_once(m: Model) -> None:
        if m.calls == 2:
            m.delete(0)

    model = Model(130, cap=50, churn=delete_oldest_once)
    listing = scan(model)
    assert ids(listing) >= {c.id for c in model.records}
    assert model.calls > 4  # read again after the shift


def test_a_few_deletions_between_every_two_reads_are_absorbed_by_a_wider_overlap() -> None:
    def churn(m: Model) -> None:
        m.create()
        m.delete(0)

    model = Model(130, cap=50, churn=churn)
    at_start = {c.id for c in model.records}
    listing = scan(model)
    assert {c.id for c in model.records} & at_start <= ids(listing)


@pytest.mark.parametrize(("paging", "deletions"), [("skip", 40), ("page", 1)])
def test_others_deleting_all_the_time_make_the_scan_refuse(paging: Paging, deletions: int) -> None:
    def churn(m: Model) -> None:
        for _ in range(deletions):
            m.create()
            m.delete(0)

    with pytest.raises(ListingError, match="could not be read completely in 3 tries"):
        scan(Model(130, cap=50, paging=paging, churn=churn))


def test_an_empty_account_is_one_request() -> None:
    model = Model(0)
    assert scan(model).campaigns == []
    assert model.calls == 1


@dataclass(frozen=True)
class Event:
    call: int
    creates: int
    delete: int | None


events = st.lists(
    st.builds(Event, st.integers(1, 12), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 400))), max_size=6
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(0, 260),
    cap=st.sampled_from([None, 1, 7, 50, 99]),
    paging=st.sampled_from(["skip", "page", "both"]),
    reports=st.booleans(),
    counts=st.booleans(),
    page_size=st.sampled_from([1, 10, 100]),
    churn=events,
)
def test_the_scan_never_misses_a_campaign_that_survived_it(
    count: int, cap: int | None, paging: Paging, reports: bool, counts: bool, page_size: int, churn: list[Event]
) -> None:
    deleted: set[str] = set()

    def act(m: Model) -> None:
        for event in churn:
            if event.call == m.calls:
                for _ in range(event.creates):
                    m.create()
                if event.delete is not None and m.records:
                    deleted.add(m.records[event.delete % len(m.records)].id)
                    m.delete(event.delete)

    model = Model(count, cap=cap, paging=paging, reports=reports, counts=counts, churn=act)
    at_start = {c.id for c in model.records}
    try:
        listing = scan(model, page_size)
    except ListingError:
        assert deleted, "refused although nothing moved"
        return
    assert at_start - deleted <= ids(listing)
