"""Policy-defined detectors end to end: a custom term list and pattern in the policy route a
request by their category's level, a `levels` override changes a built-in level, and a reload
swaps the detectors together with the rules."""
import os

import grpc
import pytest

from conftest import ADMIN_KEY

POLICY = """\
version: 1
detectors:
  - category: custom.project
    level: restricted
    terms: [Apollo, "Project Nightingale"]
    terms_file: codenames.txt
  - category: custom.customer_id
    level: confidential
    pattern: 'CUST-[0-9]{8}'
levels:
  pii.email: internal
rules:
  - id: restricted-on-prem
    when: { level_at_least: restricted }
    then: { route: onprem }
  - id: confidential-masked
    when: { level_at_least: confidential }
    then: { route: frontier, transform: mask }
default:
  route: frontier
"""


@pytest.fixture
def setup(tmp, start_upstream, start_gateway):
    with open(os.path.join(tmp, "codenames.txt"), "w") as f:
        f.write("# code names, one per line\nBlue Heron\n")
    frontier = start_upstream()
    onprem = start_upstream()
    gw = start_gateway([{"name": "frontier", "url": frontier.url, "clearance": "internal"},
                        {"name": "onprem", "url": onprem.url, "clearance": "restricted"}],
                       policy=POLICY)
    return gw, frontier, onprem


def test_custom_term_routes_by_its_level(setup):
    gw, frontier, onprem = setup
    r = gw.client().chat([{"role": "user", "content": "status of project nightingale?"}])
    assert r.route.target == "onprem"
    assert r.route.rule_id == "restricted-on-prem"
    assert r.route.level == "restricted"
    assert onprem.stats()["requests"][0]["messages"][0]["content"] == \
        "status of project nightingale?"
    assert frontier.stats()["requests"] == []


def test_terms_file_and_classify_report_the_category(setup):
    gw, _, _ = setup
    a = gw.client().classify([{"role": "user", "content": "Ask Blue Heron and Apollo"}]).assessment
    assert a.level == "restricted"
    assert [(f.category, f.level, f.begin, f.end) for f in a.findings] == [
        ("custom.project", "restricted", 4, 14), ("custom.project", "restricted", 19, 25)]
    assert "difficulty" not in [f.category for f in a.findings]
    assert set(a.difficulty_signals) >= {"length", "code", "math", "reasoning"}


def test_custom_pattern_is_masked_before_it_leaves(setup):
    gw, frontier, onprem = setup
    r = gw.client().chat([{"role": "user", "content": "refund cust-12345678 today"}])
    assert r.route.target == "frontier" and r.route.rule_id == "confidential-masked"
    sent = frontier.stats()["requests"][0]["messages"][0]["content"]
    assert sent == "refund [CUSTOMER_ID] today"
    assert onprem.stats()["requests"] == []


def test_mask_leaves_findings_the_target_is_cleared_for(setup):
    # frontier is cleared for internal: the e-mail (internal by the policy's override) passes
    # as it is, the customer id (confidential) is masked.
    gw, frontier, _ = setup
    r = gw.client().chat([{"role": "user", "content": "cust-12345678 is bob@example.org"}])
    assert r.route.target == "frontier" and r.route.level == "confidential"
    sent = frontier.stats()["requests"][0]["messages"][0]["content"]
    assert sent == "[CUSTOMER_ID] is bob@example.org"


def test_level_override_lowers_a_built_in_category(setup):
    gw, frontier, _ = setup
    r = gw.client().chat([{"role": "user", "content": "write to bob@example.org"}])
    assert r.route.level == "internal"
    assert r.route.rule_id == "default" and r.route.target == "frontier"


def test_no_custom_finding_without_the_terms(setup):
    gw, _, _ = setup
    a = gw.client().classify([{"role": "user", "content": "apollonian order"}]).assessment
    assert a.level == "public" and list(a.findings) == []


def test_reload_brings_new_detectors_and_a_broken_one_is_refused(setup):
    gw, _, _ = setup
    admin = gw.client(ADMIN_KEY)
    agent = gw.client()
    with open(gw.policy_path, "w") as f:
        f.write(POLICY.replace("[Apollo,", "[Gemini,"))
    assert admin.reload_policy().changed
    a = agent.classify([{"role": "user", "content": "Apollo and Gemini"}]).assessment
    assert [f.category for f in a.findings] == ["custom.project"]
    assert a.findings[0].begin == 11
    # A bad RE2 pattern is refused with its line and column; the policy in force stays.
    with open(gw.policy_path, "w") as f:
        f.write(POLICY.replace("'CUST-[0-9]{8}'", "'CUST-([0-9]{8}'"))
    with pytest.raises(grpc.RpcError) as e:
        admin.reload_policy()
    assert "policy.yaml:9:14: detectors[1].pattern: invalid RE2 pattern" in e.value.details()
    a = agent.classify([{"role": "user", "content": "Gemini"}]).assessment
    assert a.level == "restricted"
