"""Azure region names (``eastus``) and the display names the service puts in its ``x-ms-region``
response header (``East US``, recorded; see tests/reference/recordings)."""

from __future__ import annotations

import re

_DISPLAY_NAMES = {
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
    "centralus": "Central US",
    "northcentralus": "North Central US",
    "southcentralus": "South Central US",
    "westcentralus": "West Central US",
    "canadacentral": "Canada Central",
    "canadaeast": "Canada East",
    "brazilsouth": "Brazil South",
    "brazilsoutheast": "Brazil Southeast",
    "mexicocentral": "Mexico Central",
    "northeurope": "North Europe",
    "westeurope": "West Europe",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "switzerlandnorth": "Switzerland North",
    "switzerlandwest": "Switzerland West",
    "norwayeast": "Norway East",
    "swedencentral": "Sweden Central",
    "italynorth": "Italy North",
    "polandcentral": "Poland Central",
    "spaincentral": "Spain Central",
    "eastasia": "East Asia",
    "southeastasia": "Southeast Asia",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
    "koreacentral": "Korea Central",
    "centralindia": "Central India",
    "southindia": "South India",
    "westindia": "West India",
    "australiaeast": "Australia East",
    "australiasoutheast": "Australia Southeast",
    "australiacentral": "Australia Central",
    "newzealandnorth": "New Zealand North",
    "uaenorth": "UAE North",
    "southafricanorth": "South Africa North",
    "qatarcentral": "Qatar Central",
    "israelcentral": "Israel Central",
    "centraluseuap": "Central US EUAP",
    "eastus2euap": "East US 2 EUAP",
    "usgovvirginia": "USGov Virginia",
    "usgovarizona": "USGov Arizona",
}
# Words a region name is made of, for names the table does not know ("northcentralus" style).
_WORDS = re.compile(
    r"southeast|northeast|north|south|east|west|central|us|uk|uae|euap|\d+"
    r"|[a-z]+?(?=southeast|northeast|north|south|east|west|central|\d|$)"
)
_UPPER = {"us", "uk", "uae", "euap"}


def display_name(region: str) -> str:
    """``westus2`` -> ``West US 2``. A name the table lacks is split into the usual words
    (``chilecentral`` -> ``Chile Central``); anything else is returned as given."""
    name = region.strip().lower()
    known = _DISPLAY_NAMES.get(name)
    if known is not None:
        return known
    words = _WORDS.findall(name) if re.fullmatch(r"[a-z0-9]+", name) else []
    if not words or "".join(words) != name:
        return region
    return " ".join(w.upper() if w in _UPPER else w.capitalize() for w in words)


def region_name(display: str) -> str:
    """The inverse: ``West US 2`` -> ``westus2``."""
    return re.sub(r"\s+", "", display).lower()
