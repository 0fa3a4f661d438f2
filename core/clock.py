"""Wall-clock times as agents name them ("resets 5pm (Europe/Berlin)"), as Unix times.

Agents that hit a usage limit say when it lifts in words meant for people:
``5pm``, ``5:30 pm``, ``17:00``, ``Oct 6, 1pm``, with an optional IANA time zone
in parentheses, or (older Claude Code) a Unix time after a ``|``. A plugin that
recognises such a screen uses :func:`next_time` to turn the phrase into the
moment the session may work again.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
TIME_PHRASE = re.compile(
    r"(?:(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)?,?\s+(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?"
    r"(?:\s*\((?P<zone>[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)*)\))?",
    re.IGNORECASE)
EPOCH = re.compile(r"\|\s*(?P<epoch>\d{10})\b")


def next_time(phrase: str, now: float | None = None) -> float | None:
    """The first moment at or after ``now`` that ``phrase`` names, as a Unix time.

    ``phrase`` is the text right after "resets" / "reset at". ``None`` when it
    names no time this function understands (callers then pick a default).
    """
    now = time.time() if now is None else now
    epoch = EPOCH.search(phrase)
    if epoch:
        return float(epoch.group("epoch"))
    m = TIME_PHRASE.match(phrase.strip())
    if m is None:
        return None
    hour, minute = int(m.group("hour")), int(m.group("minute") or 0)
    ampm = (m.group("ampm") or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif m.group("minute") is None:
        return None  # a bare number is not a time
    if hour > 23 or minute > 59:
        return None
    zone = _zone(m.group("zone"))
    here = datetime.fromtimestamp(now, zone)
    try:
        if m.group("month"):
            month = _MONTHS.index(m.group("month").lower()[:3]) + 1
            when = here.replace(month=month, day=int(m.group("day")), hour=hour, minute=minute,
                                second=0, microsecond=0)
            if when.timestamp() < now - 86400:  # "Jan 2" said on Dec 30 means next year
                when = when.replace(year=when.year + 1)
        else:
            when = here.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if when.timestamp() < now:
                when += timedelta(days=1)
    except ValueError:  # e.g. Feb 30
        return None
    return when.timestamp()


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None  # the machine's local time, as the agent saw it
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
