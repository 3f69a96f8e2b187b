"""Service settings: one typed object from flags > ``EDGEREC_*`` environment > TOML > defaults."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgerec.errors import ConfigError

# More workers than this many per core only add memory and contention (and hundreds of
# them fail to start).
_MAX_WORKERS_PER_CORE = 4


class Secret:
    """A string that never prints itself (tokens stay out of logs and reprs)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Every setting of `edgerec serve`; each field's comment is its documentation."""

    artifact: Path | None = None
    """Artifact directory to serve. Empty: build and serve the built-in demo shop."""
    artifact_digest: str | None = None
    """Pinned artifact digest (see `edgerec inspect`); any other artifact is refused. Empty: any."""
    state_dir: Path = Path("edgerec-state")
    """Where the SQLite event store (and the demo artifact) live."""
    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = 8000
    """TCP port."""
    workers: int = 1
    """Worker processes (one per core; at most 4 per core); they share the artifact through mmap."""
    redis_url: str | None = None
    """redis://host:port/db of the node's shared cache. Empty: no Redis (process cache only)."""
    redis_timeout_ms: float = 20.0
    """Timeout of every Redis call; a timeout counts as a cache miss."""
    cache_ttl_s: int = 300
    """Time-to-live of Redis cache entries (bounds Redis memory)."""
    process_cache_size: int = 20000
    """Entries in each worker's in-process cache of computed answers."""
    history_len: int = 50
    """Recent events per user read from the store for each recommendation."""
    history_cache_users: int = 20000
    """Shoppers whose recent history each worker keeps in memory, following the store's new
    events (another worker's click shows within ~1 ms); ~0.7 KB each at 50 events, 13 MB when
    full. The model keeps as many histories resolved to its item indices (~0.4 KB each at 50
    events, 8.4 MB). 0: read SQLite and resolve the history on every request."""
    event_retention_days: float = 0.0
    """Days of events the store keeps: every worker deletes older ones (by when they arrived)
    once an hour, and the node's workers then forget their cached histories. 0: keep all."""
    default_k: int = 10
    """Items returned when the request does not say k."""
    max_k: int = 100
    """Largest k a request may ask for."""
    max_body_bytes: int = 1_048_576
    """Larger request bodies get 413."""
    max_events_per_batch: int = 1000
    """Larger event batches get 422."""
    max_inflight: int = 64
    """Requests a worker runs at once before shedding more with 503 + Retry-After."""
    max_batch: int = 64
    """Most concurrent recommendation requests a worker scores as one batch (1 = no batching).
    As many as `max_inflight`: at 64 connections a cap of 32 held batches at 32 and the worker
    at ~8% fewer requests per second (benchmarks/serving.py, alternating runs)."""
    batch_scheduling: bool = True
    """Run the server under Linux's SCHED_BATCH policy (Linux only; elsewhere, or if refused,
    the default policy with a warning). Each worker's HTTP thread then no longer preempts its
    Python thread at every wakeup: on one core, ~15% more recommendations per second and ~25%
    more hello-world requests (alternating runs, README "Speed and size")."""
    shed_lag_ms: float = 25.0
    """Event-loop lag above which a worker sheds new /v1 requests with 503 + Retry-After."""
    reload_interval_s: float = 2.0
    """How often a worker checks the artifact's manifest for a new version (0 = never)."""
    admin_token: Secret | None = None
    """Bearer token for /v1/admin/*. Empty: admin endpoints are disabled (403)."""
    log_level: str = "INFO"
    """Log level of the JSON logs on stdout."""
    pod: str | None = None
    """Added as label pod to every metric (Kubernetes: the pod name, from the downward API)."""
    node: str | None = None
    """Added as label node to every metric (Kubernetes: the node name, from the downward API)."""

    def identity(self) -> dict[str, str]:
        """The labels naming this pod and node in every metric (empty outside Kubernetes)."""
        return {name: value for name, value in (("pod", self.pod), ("node", self.node)) if value}

    def __post_init__(self) -> None:
        for name in (
            "port",
            "workers",
            "default_k",
            "max_k",
            "max_body_bytes",
            "max_events_per_batch",
            "max_inflight",
            "max_batch",
            "history_len",
            "cache_ttl_s",
            "process_cache_size",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"setting {name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.event_retention_days < float("inf"):
            raise ConfigError(
                f"setting event_retention_days must be >= 0, got {self.event_retention_days}"
            )
        if self.history_cache_users < 0:
            raise ConfigError(
                f"setting history_cache_users must be >= 0, got {self.history_cache_users}"
            )
        most = _MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
        if self.workers > most:
            raise ConfigError(
                f"setting workers must be at most {most} ({_MAX_WORKERS_PER_CORE} per core"
                f" here; one per core serves best), got {self.workers}"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"setting port must be 1..65535, got {self.port}")
        if self.default_k > self.max_k:
            raise ConfigError("setting default_k must not exceed max_k")
        if self.redis_timeout_ms <= 0 or self.reload_interval_s < 0 or self.shed_lag_ms <= 0:
            raise ConfigError(
                "redis_timeout_ms and shed_lag_ms must be > 0, reload_interval_s >= 0"
            )
        if self.redis_url:
            _check_redis_url(self.redis_url)
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("setting log_level must be DEBUG, INFO, WARNING or ERROR")

    def to_env(self) -> dict[str, str]:
        """The settings as EDGEREC_* variables, to hand to worker processes."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            text = value.reveal() if isinstance(value, Secret) else str(value)
            out[f"EDGEREC_{item.name.upper()}"] = text
        return out


def _check_redis_url(url: str) -> None:
    """What the Redis client would take silently (a database that is not a number reads as
    database 0) or fail on only in the worker, with an unclear message (a port out of
    range). Messages never repeat the URL: it may hold a password."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("setting redis_url must be redis://, rediss:// or unix://")
    try:
        parts.port  # noqa: B018 - parsed on access
    except ValueError:
        raise ConfigError("setting redis_url: its port must be 1..65535") from None
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError("setting redis_url: unix:// needs a socket path")
        return
    if not parts.hostname:
        raise ConfigError("setting redis_url names no host (redis://host:port/db)")
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise ConfigError(
            f"setting redis_url: the database must be a number (redis://host:port/0), got"
            f" {database!r}"
        )


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    toml_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults < TOML file < environment < explicit overrides, then validate.

    Raises:
        ConfigError: unknown key, unparsable value or a value out of range.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = toml_path or (Path(environ["EDGEREC_CONFIG"]) if environ.get("EDGEREC_CONFIG") else None)
    if path is not None:
        import tomllib  # here: most starts have no file, and every start paid its import

        try:
            raw.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except OSError as exc:  # a directory, unreadable
            raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    known = {item.name: item for item in fields(Settings)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for name in known:
        env_value = environ.get(f"EDGEREC_{name.upper()}")
        if env_value is not None:
            raw[name] = env_value
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return Settings(**{name: _coerce(known[name], value) for name, value in raw.items()})


# Spellings of a boolean in the environment and on flags (TOML's true/false arrive as True/False).
_BOOLEANS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


def _coerce(item: dataclasses.Field[Any], value: Any) -> Any:
    kind = str(item.type)
    text = str(value).strip()
    try:
        if item.name == "admin_token":
            return Secret(text) if text else None
        if "Path" in kind:
            return Path(text) if text else None
        if kind.startswith("str | None"):
            return text or None
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return _BOOLEANS[text.lower()]
    except (ValueError, KeyError):
        raise ConfigError(f"setting {item.name}: {value!r} is not a valid {kind}") from None
    return text


__all__ = ["Secret", "Settings", "load_settings"]
