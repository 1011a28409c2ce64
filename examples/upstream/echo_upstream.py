#!/usr/bin/env python3
"""A small OpenAI-compatible chat-completions server that echoes, for demos and tests.

It stands in for a real on-prem model server (vLLM, NIM, TensorRT-LLM) so that the
quickstart and the integration tests run on a machine with no model. It is not a model:

  * a conversation whose last message is a tool result is answered
    "The tool returned: <result>";
  * a request with tools whose last message is from the user is answered with a call of the
    first tool, arguments {"input": "<the user's text>"};
  * anything else is answered "You said: <the user's text>".

Answers stream as SSE (chunked transfer encoding, keep-alive) when the request asks for
`stream: true`, with usage in the final chunk; otherwise one JSON object.

Knobs for tests: --first-byte-delay S, --chunk-delay S, --repeat N (repeat the answer N
times, to make long streams), --fail-first N (answer the first N requests with HTTP 500).
GET /_stats returns what the server saw: the request bodies, accepted connections, streams
completed and streams whose client went away early. Only the Python standard library.
"""
import argparse
import json
import os
import select
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.connections = 0
        self.completed = 0
        self.closed_early = 0
        self.failed = 0

    def snapshot(self):
        with self.lock:
            return {
                "requests": list(self.requests),
                "connections": self.connections,
                "completed": self.completed,
                "closed_early": self.closed_early,
                "failed": self.failed,
            }


def answer_for(body):
    """Returns (text, tool_call or None) for a chat-completions request body."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    if last.get("role") == "tool":
        return "The tool returned: " + str(last.get("content", "")), None
    tools = body.get("tools") or []
    if tools and last.get("role") == "user":
        name = tools[0]["function"]["name"]
        args = json.dumps({"input": last.get("content", "")})
        return "", {"id": "call_1", "name": name, "arguments": args}
    return "You said: " + str(last_user.get("content", "")), None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-upstream/1"

    def log_message(self, fmt, *args):  # quiet
        if self.server.verbose:
            sys.stderr.write("echo-upstream: " + (fmt % args) + "\n")

    def setup(self):
        super().setup()
        with self.server.stats.lock:
            self.server.stats.connections += 1

    def do_GET(self):
        if self.path == "/_stats":
            self.send_json(200, self.server.stats.snapshot())
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"message": "body is not JSON"}})
            return
        stats = self.server.stats
        with stats.lock:
            stats.requests.append(body)
            fail = stats.failed < self.server.fail_first
            if fail:
                stats.failed += 1
        if not self.path.endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "unknown path " + self.path}})
            return
        if fail:
            self.send_json(500, {"error": {"message": "injected failure"}})
            return
        time.sleep(self.server.first_byte_delay)
        text, tool_call = answer_for(body)
        text = " ".join([text] * self.server.repeat) if text else text
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        if body.get("stream"):
            self.stream(body, text, tool_call, prompt_tokens)
        else:
            if self.peer_closed():
                with self.server.stats.lock:
                    self.server.stats.closed_early += 1
                self.close_connection = True
                return
            message = {"role": "assistant", "content": text or None}
            if tool_call:
                message["tool_calls"] = [{"id": tool_call["id"], "type": "function",
                                          "function": {"name": tool_call["name"],
                                                       "arguments": tool_call["arguments"]}}]
            self.send_json(200, {
                "id": "chatcmpl-echo", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if tool_call else "stop"}],
                "usage": {"prompt_tokens": prompt_tokens,
                          "completion_tokens": len(text.split()) + (1 if tool_call else 0),
                          "total_tokens": 0}})
            with self.server.stats.lock:
                self.server.stats.completed += 1

    def peer_closed(self):
        """True when the client has closed its end (a request body was already read whole)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def stream(self, body, text, tool_call, prompt_tokens):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        model = body.get("model")

        def chunk(delta, finish=None, usage=None):
            obj = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "model": model,
                   "choices": [] if usage else [{"index": 0, "delta": delta,
                                                  "finish_reason": finish}]}
            if usage:
                obj["usage"] = usage
            return "data: " + json.dumps(obj) + "\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        pieces = []
        if tool_call:
            args = tool_call["arguments"]
            half = len(args) // 2
            events.append(chunk({"tool_calls": [{"index": 0, "id": tool_call["id"],
                                                 "type": "function",
                                                 "function": {"name": tool_call["name"],
                                                              "arguments": args[:half]}}]}))
            events.append(chunk({"tool_calls": [{"index": 0,
                                                 "function": {"arguments": args[half:]}}]}))
        else:
            words = text.split(" ")
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
            events.extend(chunk({"content": p}) for p in pieces)
        events.append(chunk({}, finish="tool_calls" if tool_call else "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(chunk(None, usage={"prompt_tokens": prompt_tokens,
                                             "completion_tokens": len(pieces) or 1,
                                             "total_tokens": 0}))
        events.append("data: [DONE]\n\n")
        try:
            for i, event in enumerate(events):
                if i > 0:
                    time.sleep(self.server.chunk_delay)
                data = event.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with self.server.stats.lock:
                self.server.stats.closed_early += 1
            self.close_connection = True
            return
        with self.server.stats.lock:
            self.server.stats.completed += 1

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--first-byte-delay", type=float, default=0.0)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server = Server((args.host, args.port), Handler)
    server.stats = Stats()
    server.first_byte_delay = args.first_byte_delay
    server.chunk_delay = args.chunk_delay
    server.repeat = max(1, args.repeat)
    server.fail_first = args.fail_first
    server.verbose = args.verbose
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"echo-upstream listening on {args.host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
