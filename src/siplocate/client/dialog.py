"""INVITE dialogs (RFC 3261 §12), ours or theirs: in-dialog requests stay on the dialog's
server, and a dialog is found again by (Call-ID, local tag, remote tag)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

from sipmessage import URI, Address, Parameters, Request, Response

from ..sip.message import RequestSpec, build_request
from ..sip.transport import Connection
from ..target import Target
from .failover import Steering
from .walker import Outcome

DialogKey = tuple[str, str, str]  # Call-ID, local tag, remote tag (RFC 3261 §12)


class DialogHost(Protocol):
    """What a dialog needs from the client (``SipClient``): where dialogs are kept, and a
    request with failover for its in-dialog requests."""

    @property
    def dialogs(self) -> dict[DialogKey, Dialog]: ...

    async def request(
        self, method: str, *, spec: RequestSpec | None = None, steering: Steering | None = None
    ) -> Outcome: ...


@dataclass
class Dialog:
    """An INVITE dialog (RFC 3261 §12), ours (we called) or theirs (we answered): in-dialog
    requests stay on its server; ``ended`` once either side sent BYE."""

    client: DialogHost
    target: Target
    call_id: str
    local: Address
    remote: Address
    remote_target: URI
    route: list[Address]
    cseq: int
    invite_cseq: int
    ended: bool = False
    _ack: bytes | None = None

    @property
    def key(self) -> DialogKey:
        return (self.call_id, _tag(self.local) or "", _tag(self.remote) or "")

    @classmethod
    def from_response(
        cls, client: DialogHost, spec: RequestSpec, response: Response, target: Target
    ) -> Dialog:
        """The dialog a 2xx to our INVITE set up (a malformed Contact or Record-Route in it
        is ignored: the request URI and no route serve instead)."""
        try:
            contacts = response.contact
            remote_target = contacts[0].uri if contacts else spec.uri
        except (ValueError, IndexError, KeyError):
            remote_target = spec.uri
        try:
            route = list(reversed(response.record_route))
        except (ValueError, IndexError, KeyError):
            route = []
        try:
            remote = response.to_address
        except (ValueError, IndexError, KeyError):
            remote = spec.to_addr
        return cls(
            client, target, spec.call_id, spec.from_addr, remote, remote_target, route,
            spec.cseq, spec.cseq,
        )  # fmt: skip

    @classmethod
    def from_request(
        cls, client: DialogHost, request: Request, to_tag: str, target: Target
    ) -> Dialog:
        """The dialog our 2xx to an incoming INVITE sets up (RFC 3261 §12.1.1)."""
        to = Address.parse(request.headers["To"])
        local = Address(uri=to.uri, parameters=Parameters(tag=to_tag))
        try:
            contacts = request.contact
            remote_target = contacts[0].uri if contacts else request.uri
        except (ValueError, IndexError, KeyError):
            remote_target = request.uri
        try:
            route = list(request.record_route)
        except (ValueError, IndexError, KeyError):
            route = []
        cseq = request.cseq.sequence
        return cls(
            client, target, request.headers["Call-ID"], local,
            Address.parse(request.headers["From"]), remote_target, route, 0, cseq,
        )  # fmt: skip

    def ack(self, conn: Connection) -> None:
        """ACK for 2xx: a new request, no transaction (RFC 3261 §13.2.2.4), same flow; kept,
        so a retransmitted 2xx gets the same ACK again."""
        if self._ack is None:
            spec = self._spec("ACK", self.invite_cseq)
            self._ack = bytes(
                build_request(spec, transport=self.target.transport, local=conn.local)
            )
        with contextlib.suppress(OSError):
            conn.send(self._ack)

    def _spec(self, method: str, cseq: int) -> RequestSpec:
        return RequestSpec(
            method=method,
            uri=self.remote_target,
            from_addr=self.local,
            to_addr=self.remote,
            call_id=self.call_id,
            cseq=cseq,
            route=list(self.route),
        )

    async def request(self, method: str) -> Outcome:
        """An in-dialog request: to the dialog's server first, then the usual failover."""
        self.cseq += 1
        outcome = await self.client.request(
            method, spec=self._spec(method, self.cseq), steering=Steering(prefer=self.target)
        )
        if outcome.target is not None:
            self.target = outcome.target
        return outcome

    async def bye(self) -> Outcome:
        """End the dialog from our side."""
        self.ended = True
        self.client.dialogs.pop(self.key, None)
        return await self.request("BYE")


def _tag(address: Address) -> str | None:
    tag = address.parameters.get("tag")
    return tag if isinstance(tag, str) else None


def header_tag(message: Request | Response, name: str) -> str | None:
    try:
        return _tag(Address.parse(message.headers[name]))
    except (ValueError, IndexError, KeyError):
        return None
