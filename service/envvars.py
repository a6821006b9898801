"""Reading `CARRIER_EVENTS_*` variables: typed values, errors that name the variable, secrets from files.

Shared by the service settings (`service.config`) and the carrier polling credentials
(`service.carriers.config`), so both read the environment by the same rules:

- an empty value is the same as an unset one (compose files pass `${NAME:-}`);
- a secret may be given as `<NAME>_FILE`, the path of a file holding it (Docker and Kubernetes secrets;
  one trailing newline is dropped); setting both `<NAME>` and `<NAME>_FILE` is an error;
- every problem is reported with the variable's name, and a secret's value is never repeated in a message.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

PREFIX = "CARRIER_EVENTS_"
FILE_SUFFIX = "_FILE"
# The test suite's and the benchmarks' own variables (`CARRIER_EVENTS_TEST_PG`, `CARRIER_EVENTS_BENCH_PG`):
# not service settings, inherited by the processes they start, and so left alone by the unknown-name check.
RESERVED_PREFIXES = (PREFIX + "TEST_", PREFIX + "BENCH_")
# Carrier polling credentials, `CARRIER_EVENTS_POLL_<CARRIER>_<SETTING>`; all but BASE_URL may come from files.
POLL_PREFIX = PREFIX + "POLL_"
POLL_SETTINGS = ("base_url", "client_id", "client_secret", "api_key", "username", "password")
POLL_MASKED = ("client_secret", "api_key", "password")

BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


class EnvReader:
    """Reads one environment mapping, recording where each value came from and every problem found."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.errors: list[str] = []
        self.origin: dict[str, str] = {}  # variable -> "env" or "file"

    def raw(self, name: str, file_allowed: bool = False) -> str | None:
        """The variable's text (or its `_FILE`'s content), None when unset or empty."""
        value = self.env.get(name) or None
        path = self.env.get(name + FILE_SUFFIX) or None if file_allowed else None
        if value is not None and path is not None:
            self.errors.append(f"{name} and {name}{FILE_SUFFIX} are both set; set one")
            return None
        if path is not None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.errors.append(f"{name}{FILE_SUFFIX}: cannot read {path}: {exc.__class__.__name__}: "
                                   f"{getattr(exc, 'strerror', None) or exc}")
                return None
            text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
            if not text:
                self.errors.append(f"{name}{FILE_SUFFIX}: {path} is empty")
                return None
            self.origin[name] = "file"
            return text
        if value is not None:
            self.origin[name] = "env"
        return value

    def typed(self, name: str, kind: str, file_allowed: bool = False, secret: bool = False) -> object:
        """The value converted to `kind` (str, int, float, bool, ints, names); None when unset or wrong."""
        raw = self.raw(name, file_allowed)
        if raw is None:
            return None
        try:
            return convert(raw, kind)
        except ValueError as exc:
            shown = "" if secret else f"={raw!r}"
            self.errors.append(f"{name}{shown}: {exc}")
            return None


def convert(raw: str, kind: str) -> object:
    """Text to a typed value; ValueError saying what was expected."""
    text = raw.strip()
    if kind == "bool":
        if text.lower() not in BOOLEANS:
            raise ValueError("not a boolean (use 1/0, true/false, yes/no or on/off)")
        return BOOLEANS[text.lower()]
    if kind == "int":
        try:
            value: int | float = int(text)
        except ValueError:
            raise ValueError("not an integer") from None
    elif kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
    elif kind == "ints":
        try:
            return tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise ValueError("not a comma-separated list of integers") from None
    elif kind == "words":
        return tuple(raw.split())
    else:
        return raw
    if value < 0:
        raise ValueError("must not be negative")
    return value


def unknown_names(env: Mapping[str, str], known: Iterable[str], file_allowed: Iterable[str],
                  families: Mapping[str, tuple[str, Iterable[str]]]) -> list[str]:
    """A problem per `CARRIER_EVENTS_*` name that is no setting, with the closest known name.

    `families` maps a prefix (`CARRIER_EVENTS_SECRET_`) to what its suffix names (`webhook source`) and the
    valid suffixes, for a clearer message than a did-you-mean when only the suffix is wrong.
    """
    known = set(known)
    accepted = known | {name + FILE_SUFFIX for name in file_allowed}
    problems = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name.startswith(RESERVED_PREFIXES) or name in accepted:
            continue
        stem = name[:-len(FILE_SUFFIX)] if name.endswith(FILE_SUFFIX) else name
        if stem in known:
            problems.append(f"{name}: {stem} is not a secret and cannot be read from a file")
            continue
        problem = "unknown setting"
        family = next(((p, f) for p, f in families.items() if stem.startswith(p) and len(stem) > len(p)), None)
        if family is not None:
            prefix, (what, valid) = family
            suffix = stem[len(prefix):].split("_")[0] if prefix == POLL_PREFIX else stem[len(prefix):]
            if suffix.lower() not in valid:
                problem = f"unknown {what} {suffix.lower()!r} (known: {', '.join(sorted(valid))})"
        # compared without the common prefix, which would make any two names look alike
        close = difflib.get_close_matches(name[len(PREFIX):], sorted(a[len(PREFIX):] for a in accepted), n=1,
                                          cutoff=0.75)
        hint = f"; did you mean {PREFIX}{close[0]}?" if close else ""
        problems.append(f"{name}: {problem}{hint}")
    return problems
