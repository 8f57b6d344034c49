"""Read the server's whole list of campaigns so that, provably, no campaign that existed when the scan began is missed.

Every exactly-once guarantee rests on this read, and the vendor leaves its paging open: the page size may be capped
below what is asked, the server may honour ``skip`` or only ``page``, and others may create or delete campaigns
while we read. So the scan:

- always sends an explicit date window, so no default window can hide older campaigns;
- asks for the oldest first, so campaigns created during the scan land after everything read so far;
- advances by what the server says it served (``data.skip``, ``data.limit``, the results' length), not by what
  was asked;
- overlaps each page with the previous one when the server honours ``skip``: a page that does not begin with a
  record already seen means records moved between the two reads (deletions), and the scan starts over with a
  wider overlap, which absorbs that many deletions between two reads;
- when the server honours only ``page`` (pages cannot overlap), reads the list twice: the first pass is complete
  when every campaign it saw is still there in the second, because only the deletion of an already-read record
  can make a later page skip one;
- checks the count collected against ``totalResults``.

A scan that need not vouch for completeness (``vouch=False``: a status poll, which reads the list again soon)
reads a page-only server once, not twice, and gives back what it read, marked not vouched for.

When it cannot prove completeness after a few tries it raises :class:`~provisioner.errors.ListingError` and the
run sends nothing: guessing could dial customers twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from provisioner.api.campaign import Campaign
from provisioner.errors import ListingError

log = logging.getLogger("provisioner.api.listing")

#: The page size asked for; a server that serves fewer per page is followed, not trusted blindly.
PAGE_SIZE: Final = 100
#: Long before any campaign on the platform: an explicit start defeats a default date window.
EPOCH: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: How far past the server's "now" the window reaches, for campaigns created during the scan and small skews.
END_MARGIN: Final = dt.timedelta(days=1)
#: Records each page repeats of the one before, per try: the first scan costs almost nothing extra, later ones
#: absorb that many deletions by others between two reads (at most half a page).
OVERLAPS: Final = (1, 8, 32)

Paging = Literal["skip", "page"]


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One request for a page: both ``skip`` and ``page`` are sent, agreeing whenever the offset allows.

    Without ``start`` and ``end`` no window is sent and the server's own default applies (``doctor`` probes it).
    """

    skip: int
    page: int
    limit: int
    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True, slots=True)
class CampaignPage:
    """One page as the server returned it, with the paging facts it reported (None when it reported none)."""

    campaigns: list[Campaign]
    skip: int | None
    limit: int | None
    total: int | None
    has_more: bool | None


@dataclass(frozen=True)
class Listing:
    """Every campaign the server had when the scan began (and perhaps some made since), each once."""

    campaigns: list[Campaign]
    requests: int
    paging: Paging
    page_size: int  # records per page the server actually served
    total: int | None  # totalResults as last reported
    vouched: bool = True  # proven complete; False: read once for a poll, a campaign may be missing from it

    def by_name(self, fold: Callable[[str], str]) -> dict[str, Campaign]:
        """Index the campaigns by folded name; where two share a name the newest wins."""
        found: dict[str, Campaign] = {}
        for campaign in sorted(self.campaigns, key=_age_key):
            found[fold(campaign.name)] = campaign
        return found


Fetch = Callable[[PageQuery], Awaitable[CampaignPage]]


class _Moved(Exception):
    """Records moved between two page reads; this scan cannot vouch for what it read."""


async def scan_campaigns(
    fetch: Fetch,
    *,
    now: dt.datetime,
    start: dt.datetime = EPOCH,
    page_size: int = PAGE_SIZE,
    overlaps: tuple[int, ...] = OVERLAPS,
    vouch: bool = True,
    paging: Paging | None = None,
) -> Listing:
    """Read every campaign created from ``start`` on, proving nothing was missed; ``now`` is the server's clock.

    Without ``vouch`` nothing is proven: a page-only server is read once, and a count short of ``totalResults``
    is returned as read. ``paging`` is how the server paged last time, when known (no probe of ``skip`` then).
    Raises ListingError when completeness cannot be proven in one scan per overlap; API errors pass through.
    """
    scan = _Scan(fetch, start=start, end=now + END_MARGIN, asked=page_size, vouch=vouch, paging=paging)
    reasons: list[str] = []
    for overlap in overlaps:
        try:
            return await scan.run(overlap)
        except _Moved as exc:
            reasons.append(str(exc))
            log.info("campaign list changed under the scan (%s); reading it again", exc)
    raise ListingError(
        f"the server's campaign list could not be read completely in {len(overlaps)} tries ({'; '.join(reasons)}); "
        "nothing was sent, because a campaign missed by the read could be created twice. Run again when "
        "others are not creating or deleting campaigns, and run `provisioner doctor` to see how the server pages."
    )


class _Scan:
    def __init__(
        self,
        fetch: Fetch,
        *,
        start: dt.datetime,
        end: dt.datetime,
        asked: int,
        vouch: bool = True,
        paging: Paging | None = None,
    ) -> None:
        self._fetch = fetch
        self._start = start
        self._end = end
        self._asked = asked
        self._vouch = vouch
        self._paging = paging
        self.requests = 0

    async def _get(self, skip: int, limit: int) -> CampaignPage:
        self.requests += 1
        page = skip // limit + 1
        return await self._fetch(PageQuery(skip=skip, page=page, limit=limit, start=self._start, end=self._end))

    async def run(self, overlap: int) -> Listing:
        first = await self._get(0, self._asked)
        served = _served_size(first, self._asked)
        seen = _Seen(first.campaigns)
        if _at_end(first, 0, served):
            return self._done(seen, "skip", served, first)
        if served < 2 or self._paging == "page":  # pages of one record cannot overlap
            return await self._by_page(served, first)
        try:
            return await self._by_skip(seen, first, served, min(overlap, served // 2))
        except _IgnoresSkip:
            log.info("the server ignores 'skip' and pages by 'page' only: reading the list twice to vouch for it")
            return await self._by_page(served, first)

    async def _by_skip(self, seen: _Seen, first: CampaignPage, served: int, overlap: int) -> Listing:
        offset, reply = 0, first
        while True:
            # The page must begin with a record already read, else something moved in between.
            want = offset + max(1, len(reply.campaigns) - overlap)
            reply = await self._get(want, served)
            if reply.skip is not None and reply.skip != want:
                raise _IgnoresSkip
            if not reply.campaigns:
                return self._done(seen, "skip", served, reply)
            if reply.campaigns[0].id not in seen:
                raise _Moved(f"a campaign was removed before offset {want} while the list was being read")
            if not seen.add(reply.campaigns):
                if len(reply.campaigns) > overlap:
                    raise _IgnoresSkip  # a server that moved as asked shows all but the overlapping records as new
                return self._done(seen, "skip", served, reply)  # only the overlapping records: the end
            offset = want
            if _at_end(reply, offset, served):
                return self._done(seen, "skip", served, reply)

    async def _by_page(self, served: int, page_one: CampaignPage) -> Listing:
        first, last = await self._page_pass(served, page_one)
        if not self._vouch:
            return self._done(first, "page", served, last)
        second, last = await self._page_pass(served)
        vanished = first.ids() - second.ids()
        if vanished:
            raise _Moved(f"{len(vanished)} campaign(s) were deleted while the list was being read")
        second.add(first.items())
        return self._done(second, "page", served, last)

    async def _page_pass(self, served: int, page_one: CampaignPage | None = None) -> tuple[_Seen, CampaignPage]:
        """Read the pages from the first to the end once (``page_one``: the first, when already read)."""
        seen = _Seen([])
        number = 1
        while True:
            offset = (number - 1) * served
            reply = page_one if number == 1 and page_one is not None else await self._get(offset, served)
            if reply.campaigns and not seen.add(reply.campaigns):
                raise ListingError(
                    f"the server returned the same campaigns for page {number} as before, with more to come: "
                    "it honours neither 'skip' nor 'page', so its list cannot be read completely; nothing was sent"
                )
            if _at_end(reply, offset, served):
                return seen, reply
            number += 1

    def _done(self, seen: _Seen, paging: Paging, served: int, last: CampaignPage) -> Listing:
        total = last.total
        if total is not None and len(seen) < total and self._vouch:
            raise _Moved(f"read {len(seen)} campaigns where the server counts {total}")
        log.debug(
            "campaign list: %d campaigns in %d requests (%s paging, %d per page)",
            len(seen),
            self.requests,
            paging,
            served,
        )
        vouched = self._vouch or (paging == "skip" and (total is None or len(seen) >= total))
        return Listing(seen.items(), self.requests, paging, served, total, vouched)


class _IgnoresSkip(Exception):
    """The server did not honour ``skip``."""


class _Seen:
    """Campaigns read so far, in first-seen order, each once."""

    def __init__(self, campaigns: Iterable[Campaign]) -> None:
        self._by_id: dict[str, Campaign] = {}
        self.add(campaigns)

    def add(self, campaigns: Iterable[Campaign]) -> list[Campaign]:
        fresh = [c for c in campaigns if c.id not in self._by_id]
        for campaign in fresh:
            self._by_id[campaign.id] = campaign
        return fresh

    def ids(self) -> set[str]:
        return set(self._by_id)

    def items(self) -> list[Campaign]:
        return list(self._by_id.values())

    def __contains__(self, campaign_id: object) -> bool:
        return campaign_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)


def _served_size(page: CampaignPage, asked: int) -> int:
    """Return how many records per page the server serves: what it says, else what it sent when it sent fewer."""
    if page.limit is not None and page.limit > 0:
        return page.limit
    count = len(page.campaigns)
    more = (page.total is not None and page.total > count) or page.has_more is True
    return count if 0 < count < asked and more else asked


def _at_end(page: CampaignPage, offset: int, served: int) -> bool:
    """Tell whether ``page`` (read at ``offset``) reaches the end of the list by the server's own account."""
    if not page.campaigns:
        return True
    if page.total is not None:
        return offset + len(page.campaigns) >= page.total
    if page.has_more is not None:
        return not page.has_more
    return len(page.campaigns) < served


def _age_key(campaign: Campaign) -> tuple[dt.datetime, str]:
    return (campaign.created_at or EPOCH, campaign.id)
