"""Policy conditions beyond levels, end to end through airlockd: the rules see the findings'
categories, the authenticated principal, the request's labels, tools and target hint (dry runs
through Route, and one real chat that is denied by a tool rule)."""
import grpc
import pytest

from conftest import ADMIN_KEY

POLICY = """\
version: 1
rules:
  - id: secrets-home
    when: { categories: { any: ["secret.*"] } }
    then: { route: onprem }
  - id: no-shell
    when: { tools: { any: [shell] } }
    then: { deny: "shell tools are not served" }
  - id: admins-on-prem
    when: { principal: { labels: { role: admin } } }
    then: { route: onprem }
  - id: prod-hint
    when:
      all:
        - { labels: { env: prod } }
        - { target_hint: onprem }
      not: { categories: { any: ["pii.*"] } }
    then: { route: onprem }
default:
  route: frontier
"""

SHELL = {"name": "shell", "description": "run a command", "parameters": {"type": "object"}}


@pytest.fixture
def gw(start_upstream, start_gateway):
    frontier = start_upstream()
    onprem = start_upstream()
    return start_gateway([{"name": "frontier", "url": frontier.url, "clearance": "restricted"},
                          {"name": "onprem", "url": onprem.url, "clearance": "restricted"}],
                         policy=POLICY)


def route(gw, text, api_key=None, **kw):
    client = gw.client(api_key=api_key) if api_key else gw.client()
    return client.route([{"role": "user", "content": text}], **kw)


def test_categories_decide(gw):
    r = route(gw, "key AKIAIOSFODNN7EXAMPLE")
    assert r.route.rule_id == "secrets-home" and r.route.target == "onprem"
    assert "categories any of [secret.*]: found secret." in r.explanation
    assert route(gw, "hello").route.rule_id == "default"


def test_principal_labels_decide(gw):
    assert route(gw, "hello", api_key=ADMIN_KEY).route.rule_id == "admins-on-prem"
    r = route(gw, "hello")
    assert "principal label role missing (want admin): no match" in r.explanation


def test_request_labels_hint_and_not(gw):
    r = route(gw, "plan the migration", labels={"env": "prod"}, target_hint="onprem")
    assert r.route.rule_id == "prod-hint" and r.route.target == "onprem"
    r = route(gw, "plan it with bob@example.org", labels={"env": "prod"}, target_hint="onprem")
    assert r.route.rule_id == "default"
    assert "not(categories any of [pii.*]: found pii.email)" in r.explanation
    assert route(gw, "plan the migration", labels={"env": "dev"},
                 target_hint="onprem").route.rule_id == "default"


def test_a_tool_rule_denies_the_chat(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "list files"}], tools=[SHELL])
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no-shell" in e.value.details()
