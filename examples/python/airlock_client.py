#!/usr/bin/env python3
"""Airlock example client: unary chat, streaming chat and a tool-call round trip over gRPC.

Stubs are generated at build time by protoc and grpc_python_plugin into BUILD/python; point
AIRLOCK_PYTHON_STUBS (or --stubs) at that folder. Needs `grpcio` and `protobuf` (Debian's
python3-grpcio and python3-protobuf under /usr/bin/python3, or PyPI's in a virtualenv).

    /usr/bin/python3 examples/python/airlock_client.py --address 127.0.0.1:50051 \\
        --api-key demo-key --stubs build/python demo

The `AirlockClient` class is importable: the integration tests use it.
"""
import argparse
import json
import os
import sys


def _load_stubs(path=None):
    path = path or os.environ.get("AIRLOCK_PYTHON_STUBS") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "python")
    if path not in sys.path:
        sys.path.insert(0, os.path.abspath(path))
    from airlock.v1 import admin_pb2, admin_pb2_grpc, gateway_pb2, gateway_pb2_grpc
    return gateway_pb2, gateway_pb2_grpc, admin_pb2, admin_pb2_grpc


class AirlockClient:
    """A thin wrapper over the generated stubs that speaks OpenAI-shaped dicts."""

    def __init__(self, address, api_key=None, stubs=None, credentials=None):
        import grpc
        self.grpc = grpc
        self.pb, pb_grpc, self.admin_pb, admin_grpc = _load_stubs(stubs)
        if credentials is not None:
            self.channel = grpc.secure_channel(address, credentials)
        else:
            self.channel = grpc.insecure_channel(address)
        self.gateway = pb_grpc.GatewayStub(self.channel)
        self.admin = admin_grpc.AdminStub(self.channel)
        self.metadata = [("x-api-key", api_key)] if api_key else []

    def close(self):
        self.channel.close()

    # --- request building -------------------------------------------------------------
    ROLES = {"system": 1, "user": 2, "assistant": 3, "tool": 4}

    def request(self, messages, tools=None, max_tokens=0, temperature=None, labels=None,
                target_hint=""):
        """Builds a ChatRequest from OpenAI-style dicts."""
        req = self.pb.ChatRequest(target_hint=target_hint)
        for m in messages:
            msg = req.messages.add(role=self.ROLES[m["role"]], content=m.get("content") or "",
                                   tool_call_id=m.get("tool_call_id", ""))
            for call in m.get("tool_calls", []):
                msg.tool_calls.add(id=call["id"], name=call["name"],
                                   arguments=call["arguments"])
        for t in tools or []:
            req.tools.add(name=t["name"], description=t.get("description", ""),
                          parameters=json.dumps(t.get("parameters", {})))
        req.sampling.max_tokens = max_tokens
        if temperature is not None:
            req.sampling.temperature = temperature
        for k, v in (labels or {}).items():
            req.labels[k] = v
        return req

    # --- calls ------------------------------------------------------------------------
    def chat(self, messages, timeout=30, **kw):
        return self.gateway.Chat(self.request(messages, **kw), metadata=self.metadata,
                                 timeout=timeout)

    def chat_stream(self, messages, timeout=30, **kw):
        """Returns the call object: iterate it for ChatStreamResponse; .cancel() stops it."""
        return self.gateway.ChatStream(self.request(messages, **kw), metadata=self.metadata,
                                       timeout=timeout)

    def classify(self, messages, **kw):
        return self.gateway.Classify(self.request(messages, **kw), metadata=self.metadata)

    def route(self, messages, **kw):
        return self.gateway.Route(self.request(messages, **kw), metadata=self.metadata)

    def status(self):
        return self.admin.Status(self.admin_pb.StatusRequest(), metadata=self.metadata)

    def reload_policy(self):
        return self.admin.ReloadPolicy(self.admin_pb.ReloadPolicyRequest(),
                                       metadata=self.metadata)


def collect_stream(responses):
    """Assembles a stream of ChatStreamResponse into (text, tool_calls, last, route)."""
    text, calls, last, route = [], {}, None, None
    for r in responses:
        if r.HasField("route"):
            route = r.route
        text.append(r.content_delta)
        for d in r.tool_calls:
            c = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            c["id"] = d.id or c["id"]
            c["name"] = d.name or c["name"]
            c["arguments"] += d.arguments
        last = r
    return "".join(text), [calls[i] for i in sorted(calls)], last, route


def describe_route(route):
    fallbacks = f" after {list(route.fallbacks)}" if route.fallbacks else ""
    return (f"target={route.target} rule={route.rule_id} level={route.level} "
            f"transform={route.transform}{fallbacks} request={route.request_id[:8]}")


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"input": {"type": "string"}},
                   "required": ["input"]},
}


def demo(client):
    print("== unary chat")
    r = client.chat([{"role": "user", "content": "Hello! What can you do?"}])
    print(f"  answer: {r.content!r}\n  route:  {describe_route(r.route)}")

    print("== unary chat with an e-mail address (pseudonymized before it leaves)")
    r = client.chat([{"role": "user", "content": "Please write to jane.doe@example.com today."}])
    print(f"  answer: {r.content!r}\n  route:  {describe_route(r.route)}")

    print("== streaming chat")
    text, _, last, route = collect_stream(
        client.chat_stream([{"role": "user", "content": "Stream this sentence back to me."}]))
    print(f"  answer: {text!r} (finish={last.finish_reason}, "
          f"tokens={last.usage.prompt_tokens}+{last.usage.completion_tokens})")
    print(f"  route:  {describe_route(route)}")

    print("== a card number stays on the machine (the local engine; random weights: gibberish)")
    r = client.chat([{"role": "user", "content": "My card 4111 1111 1111 1111 was declined."}],
                    max_tokens=16)
    print(f"  answer: {r.content!r}\n  route:  {describe_route(r.route)}")

    print("== tool call round trip")
    history = [{"role": "user", "content": "What is the weather in Lyon?"}]
    r = client.chat(history, tools=[WEATHER_TOOL])
    call = r.tool_calls[0]
    print(f"  model calls {call.name}({call.arguments})")
    history.append({"role": "assistant", "content": "",
                    "tool_calls": [{"id": call.id, "name": call.name,
                                    "arguments": call.arguments}]})
    history.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"})
    r = client.chat(history, tools=[WEATHER_TOOL])
    print(f"  answer: {r.content!r}\n  route:  {describe_route(r.route)}")


def main():
    ap = argparse.ArgumentParser(description="Airlock example client")
    ap.add_argument("--address", default="127.0.0.1:50051")
    ap.add_argument("--api-key", default=os.environ.get("AIRLOCK_API_KEY"))
    ap.add_argument("--stubs", help="folder with the generated Python stubs (BUILD/python)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo", help="unary, streaming and tool-call round trips")
    p = sub.add_parser("chat", help="send one user message")
    p.add_argument("text")
    p.add_argument("--stream", action="store_true")
    args = ap.parse_args()

    client = AirlockClient(args.address, args.api_key, args.stubs)
    try:
        if args.cmd == "demo":
            demo(client)
        elif args.stream:
            for r in client.chat_stream([{"role": "user", "content": args.text}]):
                print(r.content_delta, end="", flush=True)
            print()
        else:
            r = client.chat([{"role": "user", "content": args.text}])
            print(r.content)
            print(describe_route(r.route), file=sys.stderr)
    except client.grpc.RpcError as e:
        print(f"airlock: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
