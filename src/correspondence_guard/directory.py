"""The council directory (spec/directory.md): who is who, and what kind of address each is."""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from correspondence_guard.errors import DirectoryError
from correspondence_guard.yamlfile import load_yaml, validate

Grade = Literal["junior", "officer", "manager", "director", "chief"]
GRADE_RANK = {"junior": 0, "officer": 1, "manager": 2, "director": 3, "chief": 4}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _lower_email(value: str) -> str:
    value = value.strip().lower()
    if "@" not in value or " " in value or value.startswith("@") or value.endswith("@"):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _lower_domain(value: str) -> str:
    value = value.strip().lower().lstrip("@").lstrip(".")
    if not value or " " in value or "." not in value:
        raise ValueError(f"not a mail domain: {value!r}")
    return value


class Council(_Strict):
    name: str
    domains: list[str] = Field(min_length=1)
    trusted_domains: list[str] = []
    timezone: str = "Europe/London"
    bank_holidays: Literal["england-and-wales", "scotland", "northern-ireland"] = "england-and-wales"

    _domains = field_validator("domains", "trusted_domains", mode="after")(
        classmethod(lambda cls, v: [_lower_domain(d) for d in v])
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class DistributionList(_Strict):
    address: str
    kind: Literal["all-members", "cabinet", "all-staff", "other"]
    _email = field_validator("address")(classmethod(lambda cls, v: _lower_email(v)))


class Team(_Strict):
    name: str
    email: str
    function: Literal["communications", "democratic-services", "information-governance", "other"]
    _email = field_validator("email")(classmethod(lambda cls, v: _lower_email(v)))


class Ward(_Strict):
    name: str
    places: list[str] = []


class _Person(_Strict):
    name: str
    email: str
    personal_emails: list[str] = []

    _email = field_validator("email")(classmethod(lambda cls, v: _lower_email(v)))
    _personal = field_validator("personal_emails")(classmethod(lambda cls, v: [_lower_email(x) for x in v]))


class Member(_Person):
    party: str = ""
    ward: str = ""
    positions: list[
        Literal[
            "leader",
            "cabinet",
            "chair",
            "vice-chair",
            "group-leader",
            "scrutiny-chair",
            "opposition-spokesperson",
        ]
    ] = []

    @property
    def role(self) -> str:
        return "member"


class Officer(_Person):
    title: str = ""
    grade: Grade
    department: str = ""
    statutory: list[Literal["head-of-paid-service", "monitoring-officer", "section-151"]] = []

    @property
    def role(self) -> str:
        return "officer"


class AddressClass(StrEnum):
    """What kind of address a recipient is, from the directory and the private-domain list."""

    MEMBER = "member"
    OFFICER = "officer"
    LIST = "distribution-list"
    TEAM = "team"
    COUNCIL = "council"  # on a council domain but not in the directory
    TRUSTED = "trusted"
    PRIVATE = "private"
    EXTERNAL = "external"

    @property
    def is_council(self) -> bool:
        return self in (
            AddressClass.MEMBER,
            AddressClass.OFFICER,
            AddressClass.LIST,
            AddressClass.TEAM,
            AddressClass.COUNCIL,
        )


def _under(domain: str, parents: list[str]) -> bool:
    return any(domain == p or domain.endswith("." + p) for p in parents)


class Directory(_Strict):
    """The validated directory. Look-ups are case-insensitive."""

    council: Council
    distribution_lists: list[DistributionList] = []
    teams: list[Team] = []
    wards: list[Ward] = []
    members: list[Member] = []
    officers: list[Officer] = []

    @functools.cached_property
    def _by_email(self) -> dict[str, Member | Officer]:
        index: dict[str, Member | Officer] = {}
        people: list[Member | Officer] = [*self.members, *self.officers]
        for person in people:
            index[person.email] = person
            for alt in person.personal_emails:
                index.setdefault(alt, person)
        return index

    @functools.cached_property
    def _personal(self) -> set[str]:
        return {a for p in (*self.members, *self.officers) for a in p.personal_emails}

    @functools.cached_property
    def _by_name(self) -> dict[str, Member | Officer]:
        index: dict[str, Member | Officer] = {}
        people: list[Member | Officer] = [*self.members, *self.officers]
        for person in people:
            index[_norm_name(person.name)] = person
        return index

    def person(self, email: str) -> Member | Officer | None:
        """The member or officer with this council or personal address."""
        return self._by_email.get(email.lower())

    def person_named(self, name: str) -> Member | Officer | None:
        """The member or officer with this display name ("Cllr", titles and quotes ignored)."""
        return self._by_name.get(_norm_name(name))

    def member(self, email: str) -> Member | None:
        p = self.person(email)
        return p if isinstance(p, Member) else None

    def officer(self, email: str) -> Officer | None:
        p = self.person(email)
        return p if isinstance(p, Officer) else None

    def is_council_domain(self, email: str) -> bool:
        return _under(email.lower().rpartition("@")[2], self.council.domains)

    def is_trusted_domain(self, email: str) -> bool:
        domain = email.lower().rpartition("@")[2]
        return not self.is_council_domain(email) and _under(domain, self.council.trusted_domains)

    def is_personal_address(self, email: str) -> bool:
        return email.lower() in self._personal

    def list_kind(self, email: str) -> str | None:
        for dl in self.distribution_lists:
            if dl.address == email.lower():
                return dl.kind
        return None

    def team(self, email: str) -> Team | None:
        for team in self.teams:
            if team.email == email.lower():
                return team
        return None

    def teams_with(self, function: str) -> list[Team]:
        return [t for t in self.teams if t.function == function]

    def in_team(self, email: str, function: str) -> bool:
        """True for a team's shared mailbox or an officer whose department is the team's name."""
        names = {t.name.lower() for t in self.teams_with(function)}
        if any(t.email == email.lower() for t in self.teams_with(function)):
            return True
        officer = self.officer(email)
        return officer is not None and officer.department.lower() in names

    @property
    def member_count(self) -> int:
        return len(self.members)


def _norm_name(name: str) -> str:
    words = name.replace('"', " ").replace("'", " ").replace(",", " ").lower().split()
    drop = {"cllr", "cllr.", "councillor", "mr", "mrs", "ms", "miss", "dr", "mx"}
    return " ".join(w for w in words if w not in drop)


def _drop_x_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: _drop_x_keys(v) for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))
        }
    if isinstance(data, list):
        return [_drop_x_keys(v) for v in data]
    return data


def load_directory(path: str | Path) -> Directory:
    """Load and validate a directory file; any bad value raises DirectoryError (``file:line: key: problem``)."""
    path = Path(path)
    try:
        data, lines = load_yaml(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}:1: the directory must be a mapping with a 'council' key")
        directory: Directory = validate(Directory, _drop_x_keys(data), path, lines)
    except ValueError as exc:
        raise DirectoryError(str(exc)) from None
    seen: dict[str, str] = {}
    for kind, people in (("members", directory.members), ("officers", directory.officers)):
        for i, person in enumerate(people):
            if person.email in seen:
                from correspondence_guard.yamlfile import line_of

                raise DirectoryError(
                    f"{path}:{line_of(lines, (kind, i, 'email'))}: {kind}[{i}].email: "
                    f"{person.email} is already listed for {seen[person.email]}"
                )
            seen[person.email] = person.name
    return directory
