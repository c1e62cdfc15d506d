"""Issue 17 item 4, pure logic: drain markers are hostile data. Markers that disagree about
one drained record, or markers of ours that do not read, are problems that name the record
and say how to resolve them; markers for SRV names outside the domain are set aside."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from siplocate.zone.drain import Drain, marker_name, read_markers

N = dns.name.from_text
DOMAIN = N("x.test.")
UDP = N("_sip._udp.x.test.")
TCP = N("_sip._tcp.x.test.")
SIP2 = N("sip2.x.test.")


def txt(text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)


def test_one_marker_per_record_is_no_problem() -> None:
    ours = [Drain(UDP, SIP2, 20, 5, 5060, 1e9).rdata(), Drain(TCP, SIP2, 20, 5, 5060, 1e9).rdata()]
    markers = read_markers(DOMAIN, [*ours, txt('"v=spf1 -all"')])
    assert markers.problems == [] and markers.outside == []
    assert [d.priority for d in markers.drains] == [20, 20] and markers.foreign == 1


def test_two_markers_that_disagree_on_one_record_are_a_conflict() -> None:
    """The finding: a second marker (priority 0) made undrain restore 0 instead of 20."""
    mine = Drain(UDP, SIP2, 20, 5, 5060, 1_700_000_000)
    theirs = Drain(UDP, SIP2, 0, 5, 5060, 1_700_000_100)
    markers = read_markers(DOMAIN, [theirs.rdata(), mine.rdata()])
    [problem] = markers.problems
    assert problem.host == SIP2 and problem.srv_name == UDP
    assert set(problem.markers) == {mine.rdata(), theirs.rdata()}
    text = problem.describe()
    assert "_sip._udp.x.test. SRV 65535 5 5060 sip2.x.test." in text
    assert "priority 20" in text and "priority 0" in text
    deletes = problem.nsupdate(marker_name(DOMAIN))
    assert deletes == sorted(
        f"update delete _siplocate-drain.x.test. TXT {d.rdata().to_text()}" for d in (mine, theirs)
    )
    assert markers.problems_of(SIP2) == [problem] and markers.problems_of(N("sip1.x.test.")) == []


def test_same_priority_twice_is_no_conflict_and_other_records_are_separate() -> None:
    """Two markers that restore the same priority agree (e.g. a re-drain after `zone apply`);
    markers for two records of one host (another weight, another transport) are not one."""
    rdatas = [
        Drain(UDP, SIP2, 20, 5, 5060, 1e9).rdata(),
        Drain(UDP, SIP2, 20, 5, 5060, 2e9).rdata(),
        Drain(UDP, SIP2, 10, 7, 5060, 1e9).rdata(),  # another record: weight 7
        Drain(TCP, SIP2, 30, 5, 5060, 1e9).rdata(),
    ]
    assert read_markers(DOMAIN, rdatas).problems == []


def test_malformed_marker_of_ours_is_a_problem_for_the_host_it_names() -> None:
    bad = txt('"siplocate-drain/1" "_sip._udp.x.test." "sip2.x.test." "20 5 99999" "1"')
    short = txt('"siplocate-drain/1" "_sip._udp.x.test."')
    markers = read_markers(DOMAIN, [bad, short, txt('"other"')])
    assert markers.drains == [] and markers.foreign == 1
    named = markers.problems_of(SIP2)
    assert [p.markers for p in named] == [(bad,), (short,)]  # who it names is unknown: any host
    assert "does not read" in named[0].describe()
    assert markers.problems_of(N("sip1.x.test.")) == [named[1]]


def test_markers_for_names_outside_the_domain_are_set_aside() -> None:
    """A marker naming another domain's SRV set is nothing undrain may act on here."""
    elsewhere = Drain(N("_sip._udp.other.test."), SIP2, 0, 5, 5060, 1e9)
    not_sip = Drain(N("_ldap._tcp.x.test."), SIP2, 0, 5, 5060, 1e9)
    markers = read_markers(DOMAIN, [elsewhere.rdata(), not_sip.rdata()])
    assert markers.drains == [] and markers.problems == []
    assert markers.outside == [elsewhere, not_sip]
