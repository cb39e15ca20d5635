"""Clients grouped into batches: one mapped task group per batch, whatever the number of clients.

A batch waits once, so its clients share the moment their month closes, their month's window
and their invoice day. Within such a group the clients are balanced by user count (largest first,
each into the lightest batch), so a very large client stands alone and big clients never stack.
The number of batches is bounded (``max_batches``), which bounds the run's task instances and
keeps Airflow's ``max_map_length`` out of reach; with fewer clients than that every client is a
batch of its own, as the grid showed before batching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from include.dms_billing.core.jobs import ClientJob, RunFacts


@dataclass(frozen=True)
class BatchKey:
    """What a batch's clients share: the moments it waits for (ISO). ``None`` for a client whose
    moments cannot be worked out (its code, timezone or addresses are refused): such clients share
    one batch, apart from every client that can be billed, whose wait fails naming each and why."""

    month_closes_at: str | None
    invoice_day: str | None
    login_start: str | None = None  # the window's first counted instant: one extraction window per batch


@dataclass(frozen=True)
class ClientBatch:
    """Clients billed together by one mapped task group; passed between tasks as :meth:`to_dict`,
    beside the run's facts (:class:`RunFacts`), which its clients share."""

    jobs: tuple[ClientJob, ...]
    key: BatchKey
    users: int = 0

    @property
    def label(self) -> str:
        """The grid's name for the batch: its client's code, or its first and last codes and size."""
        codes = sorted(job.client_code for job in self.jobs)
        return codes[0] if len(codes) == 1 else f"{codes[0]}..{codes[-1]} ({len(codes)})"

    @property
    def codes(self) -> list[str]:
        return [job.client_code for job in self.jobs]

    def to_dict(self) -> dict:
        return {"label": self.label, "users": self.users, "month_closes_at": self.key.month_closes_at,
                "invoice_day": self.key.invoice_day, "login_start": self.key.login_start,
                "jobs": [job.client_dict() for job in self.jobs]}

    @classmethod
    def from_dict(cls, data: Mapping, run: RunFacts) -> ClientBatch:
        key = BatchKey(data["month_closes_at"], data["invoice_day"], data.get("login_start"))
        return cls(tuple(ClientJob.from_dict(job, run) for job in data["jobs"]), key, data.get("users", 0))


def _shares(sizes: Mapping[BatchKey, int], counts: Mapping[BatchKey, int], max_batches: int) -> dict[BatchKey, int]:
    """Batches per group: one each, then the rest one by one to the group with the most work per
    batch (never more batches than clients), so that all groups together stay within ``max_batches``."""
    shares = dict.fromkeys(sizes, 1)
    for _ in range(max_batches - len(shares)):
        open_groups = [key for key in shares if shares[key] < counts[key]]
        if not open_groups:
            break
        busiest = max(open_groups, key=lambda key: sizes[key] / shares[key])
        shares[busiest] += 1
    return shares


def plan_batches(
    jobs: Sequence[ClientJob], keys: Mapping[str, BatchKey], users: Mapping[str, int], max_batches: int
) -> list[ClientBatch]:
    """The month's clients as batches, by client code of their first client.

    ``keys``: each client's :class:`BatchKey`; ``users``: each client's user count (missing: 0).
    A group's weight is its users plus its clients, so clients without users still spread out.
    There are at most ``max_batches`` batches, unless there are more distinct groups than that
    (a batch waits once: each group needs one).
    """
    if max_batches < 1:
        raise ValueError(f"max_batches must be at least 1, not {max_batches}")
    groups: dict[BatchKey, list[ClientJob]] = {}
    refused: list[ClientJob] = []  # one batch however many: the run's task instances stay bounded
    for job in jobs:
        key = keys[job.client_code]
        (refused if key.month_closes_at is None else groups.setdefault(key, [])).append(job)
    batches = [ClientBatch(tuple(sorted(refused, key=lambda j: j.client_code)), BatchKey(None, None),
                           sum(users.get(j.client_code, 0) for j in refused))] if refused else []
    weight = {code: users.get(code, 0) + 1 for code in (job.client_code for job in jobs)}
    shares = _shares({key: sum(weight[j.client_code] for j in members) for key, members in groups.items()},
                     {key: len(members) for key, members in groups.items()}, max_batches)
    for key, members in groups.items():
        bins: list[list[ClientJob]] = [[] for _ in range(shares[key])]
        loads = [0] * len(bins)
        for job in sorted(members, key=lambda j: (-weight[j.client_code], j.client_code)):
            lightest = min(range(len(bins)), key=lambda i: (loads[i], i))
            bins[lightest].append(job)
            loads[lightest] += weight[job.client_code]
        for members_of_bin in bins:
            ordered = tuple(sorted(members_of_bin, key=lambda j: j.client_code))
            batches.append(ClientBatch(ordered, key, sum(users.get(j.client_code, 0) for j in ordered)))
    return sorted(batches, key=lambda batch: batch.jobs[0].client_code)
