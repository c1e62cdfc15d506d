"""The requests the client builds from its address-of-record (out of dialog), and what a
REGISTER's answer says about the binding it kept."""

from __future__ import annotations

from typing import Protocol

from sipmessage import URI, Address, Parameters, Response

from ..sip.message import RequestSpec, header_expires, new_call_id, new_tag
from ..target import SipTarget, Target
from .registration import Binding


class FlowLike(Protocol):
    """An RFC 5626 flow as a REGISTER sees it (``outbound.FlowId``)."""

    @property
    def reg_id(self) -> int: ...

    def contact_params(self) -> str: ...


def uri_host(host: str) -> str:
    """A host as a URI writes it (an IPv6 literal in brackets)."""
    return f"[{host}]" if ":" in host else host


def new_spec(
    aor: SipTarget, user: str, method: str, *, uri: str | None = None, call_id: str | None = None
) -> RequestSpec:
    """A fresh out-of-dialog request from ``aor`` (To = ``uri`` or the AOR itself)."""
    scheme = aor.scheme
    ruri = URI.parse(uri) if uri else URI(scheme=scheme, host=uri_host(aor.host))
    me = URI(scheme=scheme, host=uri_host(aor.host), user=user)
    return RequestSpec(
        method=method,
        uri=ruri,
        from_addr=Address(uri=me, parameters=Parameters(tag=new_tag())),
        to_addr=Address(uri=ruri if uri else me),
        call_id=call_id or new_call_id(),
        cseq=1,
    )


def probe_uri(aor: SipTarget, target: Target) -> str:
    """The request URI of a probe of ``target``: the target itself, by address."""
    return f"{aor.scheme}:{uri_host(target.address)}:{target.port}"


def register_spec(
    spec: RequestSpec, binding: Binding, user: str, expires: int, flow: FlowLike | None
) -> RequestSpec:
    """``spec`` made the next REGISTER of ``binding`` (its Call-ID, From tag and CSeq) for
    ``expires`` seconds; as RFC 5626 ``flow`` if given."""
    binding.cseq += 1
    spec.from_addr = Address(uri=spec.from_addr.uri, parameters=Parameters(tag=binding.tag))
    spec.cseq = binding.cseq
    spec.contact_user = user
    spec.expires = expires
    # RFC 3327: Path is what edge proxies add; registrars reject it (420) when the UA did
    # not say it supports it, and supporting it costs a UA nothing.
    supported = "path"
    if flow is not None:
        spec.contact_params = flow.contact_params()
        supported = "path, outbound"
    spec.headers.append(("Supported", supported))
    return spec


def registered(
    binding: Binding,
    response: Response,
    target: Target | None,
    user: str,
    expires: int,
    flow: FlowLike | None,
) -> None:
    """A 2xx to a REGISTER: where ``binding`` is held now and for how long (the granted
    expiry of our contact, else what we asked for; nowhere after a removal)."""
    binding.target = target if expires > 0 else None
    reg_id = flow.reg_id if flow is not None else None
    granted = header_expires(response, user, reg_id) if expires else 0
    binding.granted = expires if granted is None else granted
