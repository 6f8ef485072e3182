"""A game-day plan: the session, its experiments in order, the gate, cool-down and load.

    session: {title: ..., hypothesis: ..., owner: ..., notes: ...}
    profile: quick                  # default profile of every experiment (experiments/vars/)
    gate: {settle_s: 10, timeout_s: 180}
    cooldown_s: 10
    on_deviation: continue          # or stop, or ask (interactive only)
    background_load: {users: 2, user_classes: "DashboardViewer=2", spawn_rate: 2}
    experiments:
      - experiment: kill-redis      # experiments/kill-redis.json, or a path
        profile: quick
        vars: {fault_s: 30}
        weight: 2

Every mistake is refused before anything runs, naming its line: an unknown key or
experiment or profile, a negative duration, a var the experiment does not declare, an
experiment for another platform than the target's (``check_platform``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gameday.errors import GamedayError
from gameday.loadplan import parse_user_classes
from gameday.target import ENGINE_KEYS

__all__ = [
    "Plan",
    "PlanError",
    "Planned",
    "check_platform",
    "from_experiments",
    "load_plan",
    "profile_file",
]

EXPERIMENTS_DIR = Path("experiments")
PROFILES_DIR = EXPERIMENTS_DIR / "vars"
ON_DEVIATION = ("continue", "stop", "ask")
KEYS = {
    "": {"session", "profile", "gate", "cooldown_s", "on_deviation", "background_load",
         "experiments"},
    "session": {"title", "hypothesis", "owner", "notes"},
    "gate": {"settle_s", "timeout_s"},
    "background_load": {"users", "user_classes", "spawn_rate"},
    "experiment": {"experiment", "profile", "vars", "weight"},
}  # fmt: skip


class PlanError(GamedayError):
    """A plan (or a list of experiments) cannot run as written."""


@dataclass
class Planned:
    """One experiment of the plan."""

    path: Path
    profile: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    where: str = ""  # the plan's line that names it (empty: the command line)

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass
class Plan:
    """What a session runs, and how (see the module)."""

    experiments: list[Planned]
    title: str = "Game day"
    operators: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    settle_s: float = 5.0
    gate_timeout_s: float = 180.0
    cooldown_s: float = 0.0
    on_deviation: str = "continue"
    background_load: dict[str, Any] | None = None
    cli_vars: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``session.json`` (and ``--resume``)."""
        return {
            **self.__dict__,
            "experiments": [{**e.__dict__, "path": str(e.path)} for e in self.experiments],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Plan:
        experiments = [Planned(**{**e, "path": Path(e["path"])}) for e in raw["experiments"]]
        return cls(**{**raw, "experiments": experiments})


def profile_file(profile: str) -> Path:
    return PROFILES_DIR / f"{profile}.yaml"


def from_experiments(paths: list[str], profile: str | None, cli_vars: list[str]) -> Plan:
    """The plan of ``gameday run exp1.json exp2.json``: each with the same profile."""
    _check_profile(profile, "--profile")
    _check_cli_vars(cli_vars)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise PlanError(
            f"no such experiment: {', '.join(missing)}; list them with `ls experiments/*.json`"
        )
    declared = [_declared(Path(path), where=path) for path in paths]
    _check_cli_vars_declared(cli_vars, declared)
    return Plan([Planned(Path(p), profile) for p in paths], cli_vars=list(cli_vars))


def load_plan(path: Path, cli_vars: list[str] | None = None) -> Plan:
    """Read and check ``path``; a PlanError names the line of the first mistake."""
    try:
        node = yaml.compose(path.read_text())
    except FileNotFoundError:
        raise PlanError(f"no such plan: {path}; the shipped ones are in plans/") from None
    except yaml.YAMLError as exc:
        raise PlanError(f"{path} is not valid YAML: {exc}") from None
    reader = _Reader(path)
    raw = reader.mapping(node, "")
    _check_cli_vars(cli_vars or [])
    _check_profile(raw.get("profile"), reader.at(raw, "profile"))
    if not isinstance(raw.get("experiments"), list) or not raw["experiments"]:
        raise reader.fail(
            raw,
            "experiments" if "experiments" in raw else None,
            "`experiments` must list at least one experiment",
        )
    session = raw.get("session") or {}
    gate = raw.get("gate") or {}
    plan = Plan(
        experiments=[
            reader.experiment(raw["experiments"], index, raw.get("profile"))
            for index in range(len(raw["experiments"]))
        ],
        title=str(session.get("title") or path.stem),
        operators={k: str(v) for k, v in session.items() if k != "title" and v},
        source=str(path),
        settle_s=reader.duration(gate, "settle_s", 10),
        gate_timeout_s=reader.duration(gate, "timeout_s", 180),
        cooldown_s=reader.duration(raw, "cooldown_s", 0),
        on_deviation=reader.choice(raw, "on_deviation", ON_DEVIATION),
        background_load=reader.background(raw.get("background_load")),
        cli_vars=list(cli_vars or []),
    )
    _check_cli_vars_declared(plan.cli_vars, [_declared(e.path, "") for e in plan.experiments])
    return plan


class _Reader:
    """Turns YAML nodes into plain values, remembering where each key and mapping was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Any, int] = {}  # (id(mapping), key) and id(mapping) -> line

    def line(self, node: yaml.Node) -> int:
        return node.start_mark.line + 1

    def at(self, mapping: Any, key: str | None = None) -> str:
        line = self.lines.get((id(mapping), key)) if key else None
        return f"{self.path}:{line or self.lines.get(id(mapping), 1)}"

    def fail(self, mapping: Any, key: str | None, message: str) -> PlanError:
        return PlanError(f"{self.at(mapping, key)}: {message}")

    def value(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: Any = {}
            for key, item in node.value:
                result[key.value] = self.value(item)
                self.lines[(id(result), key.value)] = self.line(key)
        elif isinstance(node, yaml.SequenceNode):
            result = [self.value(item) for item in node.value]
            for index, item in enumerate(node.value):
                self.lines[(id(result), index)] = self.line(item)
        else:
            return yaml.safe_load(yaml.serialize(node))
        self.lines[id(result)] = self.line(node)
        return result

    def mapping(self, node: yaml.Node, section: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            where = f"`{section}`" if section else "a plan"
            raise PlanError(f"{self.path}:{self.line(node)}: {where} must be a mapping of keys")
        raw = self.value(node)
        self.keys(raw, section)
        return raw

    def keys(self, raw: dict[str, Any], section: str) -> None:
        known = KEYS[section]
        for key in raw:
            if key not in known:
                where = f" in `{section}`" if section else ""
                raise self.fail(
                    raw, key, f"unknown key {key!r}{where}; known keys: " + ", ".join(sorted(known))
                )
        for key in ("session", "gate", "background_load"):
            if section == "" and raw.get(key) is not None:
                if not isinstance(raw[key], dict):
                    raise self.fail(raw, key, f"`{key}` must be a mapping of keys")
                self.keys(raw[key], key)

    def experiment(self, items: list[Any], index: int, default_profile: str | None) -> Planned:
        item = items[index]
        if isinstance(item, str):
            item = {"experiment": item}
            line = self.lines[(id(items), index)]
            self.lines[id(item)] = self.lines[(id(item), "experiment")] = line
        if not isinstance(item, dict):
            raise PlanError(
                f"{self.path}:{self.lines[(id(items), index)]}: each experiment is a name or "
                "{experiment: ..., vars: ...}"
            )
        self.keys(item, "experiment")
        name = item.get("experiment")
        path = _experiment_path(name)
        if path is None:
            known = ", ".join(sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.json")))
            raise self.fail(item, "experiment", f"unknown experiment {name!r}; known: {known}")
        profile = item.get("profile", default_profile)
        _check_profile(profile, self.at(item, "profile" if "profile" in item else "experiment"))
        variables = item.get("vars") or {}
        if not isinstance(variables, dict):
            raise self.fail(item, "vars", "`vars` must be a mapping of configuration keys")
        declared = _declared(path, where=self.at(item, "experiment"))
        for key, value in variables.items():
            if key not in declared:
                raise self.fail(
                    variables,
                    key,
                    f"{path.stem} does not declare the var {key!r}; it declares "
                    + ", ".join(sorted(declared)),
                )
            if _negative_duration(key, value):
                raise self.fail(variables, key, f"{key} must not be negative, got {value}")
        weight = item.get("weight", 1)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise self.fail(item, "weight", f"weight must be a number > 0, got {weight!r}")
        return Planned(path, profile, dict(variables), float(weight), self.at(item, "experiment"))

    def duration(self, raw: dict[str, Any], key: str, default: float) -> float:
        value = raw.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self.fail(raw, key, f"{key} must be a number of seconds >= 0, got {value!r}")
        return float(value)

    def choice(self, raw: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
        value = raw.get(key, choices[0])
        if value not in choices:
            raise self.fail(raw, key, f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def background(self, raw: dict[str, Any] | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        users, rate = raw.get("users", 1), raw.get("spawn_rate", 1)
        if not isinstance(users, int) or isinstance(users, bool) or users < 1:
            raise self.fail(raw, "users", f"users must be a whole number >= 1, got {users!r}")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
            raise self.fail(raw, "spawn_rate", f"spawn_rate must be > 0, got {rate!r}")
        classes = str(raw.get("user_classes", "DashboardViewer=1"))
        try:
            parse_user_classes(classes)
        except GamedayError as exc:
            raise self.fail(raw, "user_classes", f"user_classes: {exc}") from None
        return {"users": users, "spawn_rate": float(rate), "user_classes": classes}


def check_platform(plan: Plan, platform: str) -> None:
    """Refuse an experiment that declares other platforms than the target's (the
    Kubernetes-only ones on the supervisor lab), naming where the plan names it."""
    for planned in plan.experiments:
        extensions = json.loads(planned.path.read_text()).get("extensions") or []
        platforms = {p for e in extensions for p in e.get("platforms") or []}
        if platforms and platform not in platforms:
            where = planned.where or str(planned.path)
            raise PlanError(
                f"{where}: {planned.name} runs on {', '.join(sorted(platforms))} only and the "
                f"target is {platform}: leave it out, or give a target file of that platform "
                "(--target)"
            )


def _experiment_path(name: Any) -> Path | None:
    if not isinstance(name, str) or not name:
        return None
    candidates = [Path(name), EXPERIMENTS_DIR / f"{name}.json", EXPERIMENTS_DIR / name]
    return next((p for p in candidates if p.suffix == ".json" and p.is_file()), None)


def _declared(path: Path, where: str) -> set[str]:
    try:
        body = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlanError(f"{where}: {path} is not valid JSON: {exc}") from None
    return set(body.get("configuration") or {})


def _check_profile(profile: Any, where: str) -> None:
    if profile is not None and not (isinstance(profile, str) and profile_file(profile).is_file()):
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))) or "none"
        raise PlanError(f"{where}: unknown profile {profile!r}: known profiles are {known}")


def _check_cli_vars(cli_vars: list[str]) -> None:
    for var in cli_vars:
        if "=" not in var:
            raise PlanError(f"--var {var!r} must look like key=value or key:int=value")


def _check_cli_vars_declared(cli_vars: list[str], declared: list[set[str]]) -> None:
    """A --var no experiment of the session declares, nor the engine reads, is a typo: it
    would change nothing."""
    known = set(ENGINE_KEYS).union(*declared)
    for var in cli_vars:
        key = var.split("=", 1)[0].split(":", 1)[0]
        if key not in known:
            raise PlanError(
                f"--var {var!r}: no experiment of the session declares {key!r}; they declare "
                + ", ".join(sorted(known))
            )


def _negative_duration(key: str, value: Any) -> bool:
    timed = key.endswith(("_s", "_ms"))
    return timed and isinstance(value, int | float) and not isinstance(value, bool) and value < 0
