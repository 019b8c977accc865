"""Which rule id each preset reports for each finding (the policy presets' ids, COMPLIANCE.md).

The content categories are language-level; a preset only names them. A content finding's id is
``<preset rule>.<category>``, e.g. ``CN-CONTENT.threat``, ``CN-AMT.fees``, ``US-3P.disclosure``,
``UK-PRESSURE.borrow_elsewhere``, ``IN-HARASS.insult``, ``EU-CSD.pretext``.

=================  ==============  ===========  ==============  ==========  =========
category           cn              us, us-ma    uk              in          eu, no
=================  ==============  ===========  ==============  ==========  =========
threat             CN-CONTENT      US-CONTENT   UK-PRESSURE     IN-HARASS   EU-CSD
impersonation      CN-CONTENT      US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
false_legal        CN-CONTENT      US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
insult             CN-CONTENT      US-CONTENT   UK-PRESSURE     IN-HARASS   EU-CSD
exaggeration       CN-CONTENT      US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
disclosure         CN-PARTY        US-3P        UK-3P           IN-HARASS   EU-CSD
private_channel    CN-AMT          US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
fees               CN-AMT          US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
borrow_elsewhere   CN-AMT          US-CONTENT   UK-PRESSURE     IN-HARASS   EU-CSD
pretext            CN-CONTENT      US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
link               CN-CONTENT      US-CONTENT   UK-MISLEAD      IN-HARASS   EU-CSD
=================  ==============  ===========  ==============  ==========  =========

Context rules (bare ids): a message to a third party that mentions the debt is ``CN-3P-GATE`` / ``US-3P`` /
``UK-3P`` / ``IN-HARASS`` / ``EU-CSD``; a threat of suit on a time-barred debt is ``US-TBD`` (us) or the
shared ``TIME-BARRED``. Norway is in the EEA and shares ``EU-CSD``. Channel rules are in :mod:`.channels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    family: str  # the channel rules that apply: "cn", "us" or the preset's own name (none defined)
    content: str  # the rule id of content categories not overridden
    third_party: str  # a message to a third party mentions the debt
    time_barred: str  # a threat of suit on a time-barred debt
    overrides: Mapping[str, str] = field(default_factory=dict)

    def rule_id(self, category: str) -> str:
        """The id of a content finding, e.g. ``CN-CONTENT.threat``."""
        return f"{self.overrides.get(category, self.content)}.{category}"


_US = Preset("us", "us", "US-CONTENT", "US-3P", "US-TBD", {"disclosure": "US-3P"})

PRESETS: Mapping[str, Preset] = {
    "cn": Preset(
        "cn",
        "cn",
        "CN-CONTENT",
        "CN-3P-GATE",
        "TIME-BARRED",
        {
            "disclosure": "CN-PARTY",
            "private_channel": "CN-AMT",
            "fees": "CN-AMT",
            "borrow_elsewhere": "CN-AMT",
        },
    ),
    "us": _US,
    "us-ma": Preset("us-ma", "us", _US.content, _US.third_party, _US.time_barred, _US.overrides),
    "uk": Preset(
        "uk",
        "uk",
        "UK-MISLEAD",
        "UK-3P",
        "TIME-BARRED",
        {
            "threat": "UK-PRESSURE",
            "insult": "UK-PRESSURE",
            "borrow_elsewhere": "UK-PRESSURE",
            "disclosure": "UK-3P",
        },
    ),
    "in": Preset("in", "in", "IN-HARASS", "IN-HARASS", "TIME-BARRED"),
    "eu": Preset("eu", "eu", "EU-CSD", "EU-CSD", "TIME-BARRED"),
    "no": Preset("no", "no", "EU-CSD", "EU-CSD", "TIME-BARRED"),
}
