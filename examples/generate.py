"""Regenerate the bundled examples: a realistic workbook, the same data as CSV, a broken workbook, and a batch
that dials (some campaigns started when Ready, some on a weekly schedule).

Run from the repository root: python examples/generate.py
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl

from provisioner.workbook import spec
from provisioner.workbook.cells import format_time
from provisioner.workbook.template import DATETIME_FORMAT, TIME_FORMAT

HERE = Path(__file__).parent
#: The columns that make a campaign dial: its schedule, or Start. Only dialling.xlsx has them.
DIALLING_KEYS = (*spec.SCHEDULE_KEYS, "start")
# The optional Dialing Mode and Campaign Type columns are left out: their defaults (Agentless, voice) apply.
EXAMPLE_COLUMNS = [c for c in spec.CAMPAIGN_COLUMNS if c.key not in ("dialing_mode", "campaign_type", *DIALLING_KEYS)]
CAMPAIGN_HEADERS = [c.label for c in EXAMPLE_COLUMNS] + ["Dialing Mode"]
DIALLING_HEADERS = [c.label for c in EXAMPLE_COLUMNS] + [
    c.label for key in DIALLING_KEYS for c in spec.CAMPAIGN_COLUMNS if c.key == key
]
HOURS_HEADERS = [c.label for c in spec.HOURS_COLUMNS]

# name, description, contact lists, dnc, priority, caller id, frequency, tz, order, attempts, retry, ring,
# flow, amd, hours
CAMPAIGNS: list[tuple[object, ...]] = [
    (
        "Renewals East Q2",
        "Policy renewal reminders, eastern region",
        "Renewals East Q2",
        "Global DNC",
        3,
        "+12125550147",
        "WEEKLY",
        "America/New_York",
        "FIFO",
        3,
        60,
        30,
        "Renewal Reminder Flow",
        "detect",
        "US East Business Hours",
    ),
    (
        "Renewals Central Q2",
        "Policy renewal reminders, central region",
        "Renewals Central Q2",
        "Global DNC",
        3,
        "+13125550188",
        "WEEKLY",
        "America/Chicago",
        "FIFO",
        3,
        60,
        30,
        "Renewal Reminder Flow",
        "detect",
        "US Central Business Hours",
    ),
    (
        "Renewals West Q2",
        "Policy renewal reminders, western region",
        "Renewals West Q2; Renewals West Late",
        "Global DNC",
        3,
        "+14155550123",
        "WEEKLY",
        "America/Los_Angeles",
        "FIFO",
        3,
        60,
        30,
        "Renewal Reminder Flow",
        "detect",
        "US West Business Hours",
    ),
    (
        "Payment Due Reminder - East",
        "Friendly reminder two days before the due date",
        "Billing Due East",
        "Global DNC",
        4,
        "+12125550199",
        "DAILY",
        "America/New_York",
        "LIFO",
        2,
        240,
        25,
        "Payment Reminder Flow",
        "disconnect",
        "US East Business Hours",
    ),
    (
        "Payment Due Reminder - West",
        "Friendly reminder two days before the due date",
        "Billing Due West",
        "Global DNC",
        4,
        "+14155550177",
        "DAILY",
        "America/Los_Angeles",
        "LIFO",
        2,
        240,
        25,
        "Payment Reminder Flow",
        "disconnect",
        "US West Business Hours",
    ),
    (
        "Appointment Confirmations NYC",
        "Confirm tomorrow's clinic appointments",
        "Clinic NYC Tomorrow",
        "Clinic DNC",
        5,
        "+16465550110",
        "DAILY",
        "America/New_York",
        "FIFO",
        2,
        30,
        20,
        "Appointment Confirmation Flow",
        "no",
        "Clinic Extended Hours",
    ),
    (
        "Appointment Confirmations Chicago",
        "Confirm tomorrow's clinic appointments",
        "Clinic CHI Tomorrow",
        "Clinic DNC",
        5,
        "+13125550133",
        "DAILY",
        "America/Chicago",
        "FIFO",
        2,
        30,
        20,
        "Appointment Confirmation Flow",
        "no",
        "Clinic Extended Hours",
    ),
    (
        "Outage Follow-up London",
        "Check service is restored after the outage",
        "Outage Nov Affected London",
        "UK TPS Suppression",
        2,
        "+442071838750",
        "CUSTOM",
        "Europe/London",
        "FIFO",
        1,
        120,
        35,
        "Outage Follow-up Flow",
        "detect",
        "UK Weekdays",
    ),
    (
        "Outage Follow-up Manchester",
        "Check service is restored after the outage",
        "Outage Nov Affected Manchester",
        "UK TPS Suppression",
        2,
        "+441614960000",
        "CUSTOM",
        "Europe/London",
        "FIFO",
        1,
        120,
        35,
        "Outage Follow-up Flow",
        "detect",
        "UK Weekdays",
    ),
    (
        "Satisfaction Survey Retail",
        "Post-purchase satisfaction survey",
        "Retail Purchases Last 7 Days",
        "Survey Opt-out",
        1,
        "+12125550166",
        "WEEKLY",
        "America/New_York",
        "LIFO",
        1,
        1440,
        30,
        "Voice Survey Entry Flow",
        "disconnect",
        "Satisfaction Survey Retail",
    ),
    (
        "Satisfaction Survey Online",
        "Post-purchase satisfaction survey, online orders",
        "Online Orders Last 7 Days",
        "Survey Opt-out",
        1,
        "+12125550167",
        "WEEKLY",
        "America/New_York",
        "LIFO",
        1,
        1440,
        30,
        "Voice Survey Entry Flow",
        "disconnect",
        "",
    ),
    (
        "Collections Early Stage Sydney",
        "Early-stage collections, 1-15 days past due",
        "Collections AU 1-15",
        "AU DNCR",
        4,
        "+61291234567",
        "WEEKLY",
        "Australia/Sydney",
        "FIFO",
        5,
        180,
        40,
        "Collections Early Flow",
        "detect",
        "AU Business Hours",
    ),
    (
        "Welcome Calls Toronto",
        "Welcome new customers in their first week",
        "New Customers Toronto",
        "Global DNC",
        2,
        "+14165550142",
        "WEEKLY",
        "America/Toronto",
        "FIFO",
        3,
        720,
        30,
        "Welcome Flow",
        "no",
        "US East Business Hours",
    ),
    (
        "Flu Shot Reminders Berlin",
        "Seasonal vaccination reminder",
        "Patients Berlin 65+",
        "Clinic DNC",
        3,
        "+493012345678",
        "WEEKLY",
        "Europe/Berlin",
        "FIFO",
        2,
        1440,
        30,
        "Vaccination Reminder Flow",
        "detect",
        "DE Weekdays",
    ),
]

# key, day, start, end
HOURS: list[tuple[str, str, dt.time, dt.time]] = [
    ("US East Business Hours", "MO-FR", dt.time(9), dt.time(17)),
    ("US East Business Hours", "SA", dt.time(10), dt.time(14)),
    ("US Central Business Hours", "MO-FR", dt.time(9), dt.time(17)),
    ("US West Business Hours", "MO-FR", dt.time(9), dt.time(12)),
    ("US West Business Hours", "MO-FR", dt.time(13), dt.time(18)),
    ("Clinic Extended Hours", "MO-TH", dt.time(8), dt.time(12)),
    ("Clinic Extended Hours", "MO-TH", dt.time(13), dt.time(20)),
    ("Clinic Extended Hours", "FR", dt.time(8), dt.time(16, 30)),
    ("UK Weekdays", "MO-FR", dt.time(9), dt.time(20)),
    ("UK Weekdays", "SA", dt.time(9), dt.time(17)),
    ("Satisfaction Survey Retail", "TU", dt.time(10), dt.time(19)),
    ("Satisfaction Survey Retail", "TH", dt.time(10), dt.time(19)),
    ("Satisfaction Survey Online", "WE", dt.time(11), dt.time(19, 30)),
    ("Satisfaction Survey Online", "SA", dt.time(11), dt.time(15)),
    ("AU Business Hours", "MO-FR", dt.time(9), dt.time(20)),
    ("DE Weekdays", "MO-FR", dt.time(9), dt.time(18)),
]


def write_workbook(
    path: Path,
    campaigns: list[tuple[object, ...]],
    hours: list[tuple[object, ...]],
    headers: list[str] = CAMPAIGN_HEADERS,
) -> None:
    """Write a workbook the way a person filling the template would: dates and times as formatted cells."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = spec.CAMPAIGNS
    sheet.append(headers[: max(len(r) for r in campaigns)])
    for row in campaigns:
        sheet.append(list(row))
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = DATETIME_FORMAT
    hours_sheet = book.create_sheet(spec.CALLING_HOURS)
    hours_sheet.append(HOURS_HEADERS)
    for row in hours:
        hours_sheet.append(list(row))
        for cell in hours_sheet[hours_sheet.max_row][2:4]:
            cell.number_format = TIME_FORMAT
    book.save(path)


def write_csv_folder(folder: Path) -> None:
    """Write the same data as campaigns.csv and calling_hours.csv (UTF-8, comma separated)."""
    folder.mkdir(exist_ok=True)
    with (folder / "campaigns.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CAMPAIGN_HEADERS[:-1])
        writer.writerows(CAMPAIGNS)
    with (folder / "calling_hours.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HOURS_HEADERS)
        writer.writerows((key, day, format_time(start), format_time(end)) for key, day, start, end in HOURS)


def broken() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The typical mistakes, one or two per row."""
    good = [*CAMPAIGNS[0]]
    rows: list[tuple[object, ...]] = []

    def variant(**changes: object) -> tuple[object, ...]:
        row = list(good)
        keys = [c.key for c in EXAMPLE_COLUMNS] + ["dialing_mode"]
        row.append("Agentless")
        for key, value in changes.items():
            row[keys.index(key)] = value
        return tuple(row)

    rows.append(variant(name="Caller ID typed as a number", caller_id=14155550123))
    rows.append(variant(name="Priority out of range", priority=7))
    rows.append(variant(name="Half an attempt", max_attempts_per_record=3.5))
    rows.append(variant(name="Agent campaign", dialing_mode="Progressive"))
    rows.append(variant(name="renewals east q2"))
    rows.append(variant(name="RENEWALS EAST Q2 "))
    rows.append(variant(name="A campaign name that is far too long for the platform to keep"))
    rows.append(variant(name="Mistyped time zone", timezone="America/New York City"))
    rows.append(variant(name="Missing description", description=None))
    rows.append(variant(name="Too many lists", contact_lists=";".join(f"List {i}" for i in range(1, 12))))
    rows.append(variant(name="Machine detection typo", enable_machine_detect="yes"))
    rows.append(variant(name="Hours typo", calling_hours="US East Busines Hours"))
    rows.append(variant(name="Ring time in minutes", max_ring_time=180))
    hours: list[tuple[object, ...]] = [
        ("US East Business Hours", "MO-FR", dt.time(9), dt.time(17)),
        ("US East Business Hours", "WE", dt.time(16), dt.time(18)),
        ("US East Business Hours", "Funday", dt.time(9), dt.time(17)),
        ("US East Business Hours", "SA", dt.time(17), dt.time(9)),
        ("US Esat Business Hours", "SU", dt.time(10), dt.time(14)),
    ]
    return [(*good, "Agentless"), *rows], hours


# A spreadsheet's date-time cells hold wall-clock times, in each campaign's own time zone: no tzinfo.
SCHEDULE_START = dt.datetime.combine(dt.date(2027, 1, 4), dt.time(9))
SCHEDULE_END = dt.datetime.combine(dt.date(2036, 12, 31), dt.time(18))
#: Zone, Schedule Days and Every N Weeks of each weekly schedule in dialling.xlsx.
WEEKLY: list[tuple[str, str, int | None]] = [
    ("America/New_York", "MO-FR", None),
    ("America/Chicago", "Mon, Wed, Fri", 1),
    ("Europe/London", "TU; TH", 2),
    ("America/Los_Angeles", "MO-FR", 1),
    ("Australia/Sydney", "MO, TH", 4),
]


def dialling() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Thirty campaigns that dial: the first ten started when Ready, the next five on a weekly schedule."""
    rows: list[tuple[object, ...]] = []
    for number in range(1, 31):
        started = number <= 10
        weekly = WEEKLY[number - 11] if 10 < number <= 15 else None
        zone = weekly[0] if weekly else ("America/New_York", "America/Chicago", "Europe/London")[number % 3]
        campaign: tuple[object, ...] = (
            f"Autumn Renewals {number:02d}",
            f"Renewal reminders, wave {number}",
            f"Autumn Renewals List {number:02d}",
            "Global DNC",
            number % 5 + 1,
            f"+1212555{100 + number:04d}",
            "WEEKLY",
            zone,
            "FIFO",
            3,
            60,
            30,
            "Renewal Reminder Flow",
            "detect",
            "Renewals Weekdays",
        )
        if weekly:
            _, days, every = weekly
            schedule = (SCHEDULE_START, SCHEDULE_END, "Weekly", every, days)
            rows.append((*campaign, *schedule, "no"))
        else:
            rows.append((*campaign, None, None, None, None, None, "yes" if started else None))
    return rows, [("Renewals Weekdays", "MO-FR", dt.time(9), dt.time(18))]


def main() -> None:
    """Write every example."""
    write_workbook(HERE / "campaigns.xlsx", CAMPAIGNS, HOURS)
    write_csv_folder(HERE / "campaigns-csv")
    write_workbook(HERE / "broken.xlsx", *broken())
    write_workbook(HERE / "dialling.xlsx", *dialling(), headers=DIALLING_HEADERS)


if __name__ == "__main__":
    main()
