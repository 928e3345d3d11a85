"""The paper's two evaluation protocols, defined once. A protocol is named by its training set
(which is also whose released checkpoints to use) and numbered as in the paper."""

from __future__ import annotations

import dataclasses

from fsanet.errors import UnknownProtocolError


@dataclasses.dataclass(frozen=True)
class Protocol:
    number: int
    name: str  # the training set, as the authors named their checkpoint folders
    description: str


PROTOCOLS = {
    "300W_LP": Protocol(1, "300W_LP", "protocol 1: train 300W-LP, test AFLW2000 and BIWI_noTrack"),
    "BIWI": Protocol(2, "BIWI", "protocol 2: train and test on the 70/30 video split of BIWI"),
}
"""Protocol name -> Protocol."""

DEFAULT_PROTOCOL = "300W_LP"
"""Whose released checkpoints a command uses unless told (protocol 1's training set)."""


def get_protocol(key) -> Protocol:
    """A protocol from its name (any case), its number (1, 2, "1", "2") or itself."""
    if isinstance(key, Protocol):
        return key
    for protocol in PROTOCOLS.values():
        if str(key).upper() in (protocol.name.upper(), str(protocol.number)):
            return protocol
    raise UnknownProtocolError(f"unknown protocol {key!r}; known: "
                               + ", ".join(f"{p.name} ({p.number})" for p in PROTOCOLS.values()))
