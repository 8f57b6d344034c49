"""The vendor's Campaign Management v2 contract as the client and the sandbox both use it: paths, headers, texts."""

from __future__ import annotations

from typing import Final

#: Every path is relative to the host and takes ``accountId`` in the query as well as the header.
CREATE_CAMPAIGN: Final = "/campaign/api/v2/public/{stream_id}/campaign"  # POST, query campaignType=voice
LIST_CAMPAIGNS: Final = "/campaign/api/v2/public/{stream_id}/campaign/getAllCampaignDetails"  # POST
GET_CAMPAIGN: Final = "/campaign/api/v2/public/{stream_id}/campaign/{campaign_id}"  # GET
UPDATE_CAMPAIGN: Final = GET_CAMPAIGN  # PUT, query campaignType=voice; the full create body
DELETE_CAMPAIGN: Final = GET_CAMPAIGN  # DELETE, query campaignType=voice
#: Start and stop (query campaignType=voice&trigger=play|stop, body {}). The vendor's pages disagree on this path:
#: the voice v2 pages show it without the ``/campaign`` prefix, the older SMS pages with it (and a doubled slash).
#: This is the documented voice v2 path, the one for the campaigns this tool makes; the reply has no ``data``.
TRIGGER_CAMPAIGN: Final = "/api/v2/public/{stream_id}/campaign/trigger/{campaign_id}"  # POST
#: Enable (query enableSchedule=true, body startDateTime/endDateTime/recurrenceObject) or disable (enableSchedule=false,
#: body {}) a campaign's schedule. The campaign is named by ``campaignName`` in the query, not by id.
SCHEDULE_CAMPAIGN: Final = "/campaign/api/v2/public/{stream_id}/campaign/schedule"  # POST
CAMPAIGN_STATUS: Final = "/campaign/api/v2/public/{stream_id}/campaign/{campaign_id}/status"  # POST, view=status
LIST_CONTACT_LISTS: Final = (
    "/campaign/api/v2/public/{stream_id}/campaign/contactList/getAllListDetails"  # POST, query type=call
)

#: Not the vendor's: the built-in sandbox sets it (to "any") on its contact-list reply when it accepts any list
#: name, so a pre-flight against it does not refuse names it has not been told of. A real server never sends it.
SANDBOX_LISTS_HEADER: Final = "X-Provisioner-Sandbox-Lists"

HEADER_AUTH: Final = "auth"  # the vendor's own header name; not Authorization: Bearer
HEADER_ACCOUNT: Final = "accountid"
HEADER_IID: Final = "iid"

JWT_ALGORITHM: Final = "HS256"
JWT_MAX_LIFETIME_S: Final = 3600

RATE_LIMIT_MESSAGE: Final = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
DEFAULT_RATE_PER_MINUTE: Final = 60
