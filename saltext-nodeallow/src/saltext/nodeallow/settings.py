# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The master's ``nodeallow`` configuration section, with every default defined once (docs/salt.md).

A plain module: the runner, the engine and the ext_pillar read their settings through
:func:`from_opts`, so a setting means the same thing everywhere.
"""

import dataclasses

from saltext.nodeallow.protocol.limits import (
    DEFAULT_MAX_SPAN,
    DEFAULT_MIN_PREFIX,
    DEFAULT_REFUSE_SPECIAL,
    special_networks,
    width_limits,
)
from saltext.nodeallow.protocol.wire import DEFAULT_HOOK_PATH

# Seconds an incomplete chunk set is kept.
DEFAULT_CHUNK_TIMEOUT = 300
# Seconds to wait for an apply's return before it counts as failed and is retried: the minion is down,
# missed the publish (it was reconnecting), or is busy with a long state run that the apply queues behind.
DEFAULT_APPLY_TIMEOUT = 20
# Seconds between two reconcile passes of the engine.
DEFAULT_RECONCILE_INTERVAL = 30
# First retry delay after a failed apply; it doubles per failure up to DEFAULT_RETRY_MAX.
DEFAULT_RETRY_BASE = 5
DEFAULT_RETRY_MAX = 60
# Seconds an apply started within DEFAULT_START_WINDOW of a minion's start or auth event may go without a
# return before it is sent again (not failed, no backoff): Salt fires those events through the minion's
# request channel while its publish socket may still be waiting to reconnect, and a job published
# meanwhile never reaches it. A round trip to a listening minion takes 1-2 s.
DEFAULT_START_GRACE = 5
# Seconds after a minion's start or auth event during which its applies get DEFAULT_START_GRACE. Salt
# 3008's minion retries its publish socket's connection after recon_default (1 s) plus a random 0-10 s,
# doubling, at most every recon_max (10 s; libzmq 4.3.5 adds no jitter): it listens again at most 10 s
# after the master's publisher is up, which is before either event. 15 s covers that with one
# DEFAULT_START_GRACE to spare; a minion that signalled life gets at most 15 / 5 = 3 extra jobs for it,
# and none once a job sent to it returned. Minions with a larger recon_max need a larger window.
DEFAULT_START_WINDOW = 15
# Seconds within which the engine recompiles every accepted minion's pillar to refresh the subscriber index.
DEFAULT_REINDEX_PERIOD = 3600
# Whether subscribers with a usable base get deltas (docs/salt.md, "Deltas"); false turns every apply back
# into the full one (nodeallow.managed with the pillar compiled).
DEFAULT_DELTAS = True


@dataclasses.dataclass(frozen=True)
class Settings:
    """The effective nodeallow master settings."""

    clusters: dict
    hook_path: str = DEFAULT_HOOK_PATH
    # How much of the address space one allowlist may open (protocol.limits.check_width, docs/security.md).
    min_prefix: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_MIN_PREFIX))
    max_span: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_MAX_SPAN))
    refuse_special: list = dataclasses.field(default_factory=lambda: list(DEFAULT_REFUSE_SPECIAL))
    chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT
    apply_timeout: float = DEFAULT_APPLY_TIMEOUT
    reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL
    retry_base: float = DEFAULT_RETRY_BASE
    retry_max: float = DEFAULT_RETRY_MAX
    start_grace: float = DEFAULT_START_GRACE
    start_window: float = DEFAULT_START_WINDOW
    reindex_period: float = DEFAULT_REINDEX_PERIOD
    # Subscribers with a usable base get what changed (nodeallow.apply_delta) instead of the full apply.
    deltas: bool = DEFAULT_DELTAS

    def retry_delay(self, failures):
        """Seconds to wait before the next apply after ``failures`` failed ones in a row (0 when none)."""
        if failures <= 0:
            return 0.0
        return min(self.retry_max, self.retry_base * 2 ** min(failures - 1, 30))


_NUMBERS = {
    "chunk_timeout": DEFAULT_CHUNK_TIMEOUT,
    "apply_timeout": DEFAULT_APPLY_TIMEOUT,
    "reconcile_interval": DEFAULT_RECONCILE_INTERVAL,
    "retry_base": DEFAULT_RETRY_BASE,
    "retry_max": DEFAULT_RETRY_MAX,
    "start_grace": DEFAULT_START_GRACE,
    "start_window": DEFAULT_START_WINDOW,
    "reindex_period": DEFAULT_REINDEX_PERIOD,
}


def from_opts(opts):
    """Return the :class:`Settings` of the master options ``opts`` (section ``nodeallow``).

    Raises ValueError naming the setting when a number is not a positive number or a width limit
    is invalid: a typo in the master config must not silently turn the reconcile loop or a limit off.
    """
    section = opts.get("nodeallow") or {}
    if not isinstance(section, dict):
        raise ValueError("master config nodeallow must be a mapping (docs/salt.md)")
    clusters = section.get("clusters") or {}
    numbers = {}
    for name, default in _NUMBERS.items():
        value = section.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"master config nodeallow:{name} must be a positive number of seconds, not {value!r}")
        numbers[name] = float(value)
    widths = {
        "min_prefix": section.get("min_prefix", dict(DEFAULT_MIN_PREFIX)),
        "max_span": section.get("max_span", dict(DEFAULT_MAX_SPAN)),
        "refuse_special": list(section.get("refuse_special", DEFAULT_REFUSE_SPECIAL)),
    }
    # Checked here once, so a bad limit stops every ingest with its name instead of being skipped.
    width_limits(widths["min_prefix"], widths["max_span"])
    special_networks(widths["refuse_special"])
    deltas = section.get("deltas", DEFAULT_DELTAS)
    if not isinstance(deltas, bool):
        raise ValueError(f"master config nodeallow:deltas must be true or false, not {deltas!r}")
    return Settings(
        deltas=deltas,
        clusters=clusters if isinstance(clusters, dict) else {},
        hook_path=section.get("hook_path") or DEFAULT_HOOK_PATH,
        **widths,
        **numbers,
    )
