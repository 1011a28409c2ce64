"""Writes the chat-template goldens (tests/data/engine/chat_goldens.json) from the official
Nemotron 3 Nano chat template, rendered as transformers renders chat templates.

    scripts/tokenizer-venv.sh          # has jinja2
    build/tokenizer-venv/bin/python tests/reference/chat_goldens.py TEMPLATE.jinja

TEMPLATE.jinja is NVIDIA-Nemotron-3-Nano-30B-A3B-BF16's chat_template; offline, PyPI's
llama-cpp-python source distribution carries it as
vendor/llama.cpp/models/templates/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja (0.3.36 checked).
The environment is transformers' (trim_blocks, lstrip_blocks, loop controls; tojson as
json.dumps with ensure_ascii=False). tests/unit/engine/chat_template_test.cc renders each case
with engine/chat_template.h and compares byte for byte.
"""
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

WEATHER = {
    "name": "get_weather",
    "description": "  Current weather for a city.  ",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": ["integer", "null"], "minimum": 1},
            "detail": {"type": "object", "properties": {"wind": {"type": "boolean"}}},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
}
SEARCH = {"name": "search", "description": "", "parameters": {"type": "object", "properties": {}}}

CASES = [
    {"name": "one user message", "messages": [{"role": "user", "content": "Hello!"}]},
    {"name": "system, thinking off", "options": {"enable_thinking": False},
     "messages": [{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "Hi"}]},
    {"name": "history reasoning is stripped",
     "messages": [{"role": "user", "content": "2+2?"},
                  {"role": "assistant", "content": " 4 ", "reasoning_content": "simple sum"},
                  {"role": "user", "content": "and 3+3?"},
                  {"role": "assistant", "content": "6", "reasoning_content": "again"}],
     "options": {"add_generation_prompt": False}},
    {"name": "reasoning kept without truncation",
     "options": {"truncate_history_thinking": False},
     "messages": [{"role": "user", "content": "a"},
                  {"role": "assistant", "content": "b", "reasoning_content": "why b"},
                  {"role": "user", "content": "c"}]},
    {"name": "tools, calls and responses",
     "tools": [WEATHER, SEARCH],
     "messages": [{"role": "system", "content": "Use tools."},
                  {"role": "user", "content": "Weather in Zürich and Bern?"},
                  {"role": "assistant", "content": "Let me check.",
                   "tool_calls": [{"name": "get_weather",
                                   "arguments": '{"city": "Zürich", "days": 2, "detail": {"wind": true}, "unit": "celsius"}'},
                                  {"name": "get_weather", "arguments": '{"city": "Bern", "flag": false, "x": null, "f": 1.5, "g": 2.0}'}]},
                  {"role": "tool", "content": "{\"temp\": 3}"},
                  {"role": "tool", "content": "{\"temp\": 5}"}]},
    {"name": "tool call in history, empty system",
     "tools": [SEARCH],
     "messages": [{"role": "system", "content": ""},
                  {"role": "user", "content": "find x"},
                  {"role": "assistant", "content": "", "reasoning_content": "I should search",
                   "tool_calls": [{"name": "search", "arguments": '{"q": "x"}'}]},
                  {"role": "tool", "content": "x is 1"},
                  {"role": "assistant", "content": "<think>done</think>x is 1"},
                  {"role": "user", "content": "thanks"}]},
    {"name": "content with its own think tags and odd spaces",
     "messages": [{"role": "user", "content": " \u00a0spaced\u3000 "},
                  {"role": "assistant", "content": "<think>hm</think>\n answer \u00a0"},
                  {"role": "user", "content": "more"},
                  {"role": "assistant", "content": "<think>open only"}],
     "options": {"add_generation_prompt": False}},
    {"name": "tool message first, later system message",
     "messages": [{"role": "tool", "content": "orphan"},
                  {"role": "system", "content": "late system"},
                  {"role": "user", "content": "q"}]},
]


def to_template_message(m):
    out = {"role": m["role"], "content": m["content"]}
    if m.get("reasoning_content"):
        out["reasoning_content"] = m["reasoning_content"]
    if m.get("tool_calls"):
        out["tool_calls"] = [{"type": "function",
                              "function": {"name": c["name"], "arguments": json.loads(c["arguments"])}}
                             for c in m["tool_calls"]]
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        source = f.read()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: \
        json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    template = env.from_string(source)
    out = []
    for case in CASES:
        options = {"enable_thinking": True, "truncate_history_thinking": True,
                   "add_generation_prompt": True, **case.get("options", {})}
        kwargs = dict(messages=[to_template_message(m) for m in case["messages"]],
                      add_generation_prompt=options["add_generation_prompt"],
                      enable_thinking=options["enable_thinking"],
                      truncate_history_thinking=options["truncate_history_thinking"])
        if case.get("tools"):
            # An empty description is no description (the API cannot tell them apart).
            kwargs["tools"] = [{"type": "function",
                                "function": {k: v for k, v in t.items() if k != "description" or v}}
                               for t in case["tools"]]
        tools = [{"name": t["name"], "description": t["description"],
                  "parameters": json.dumps(t["parameters"], ensure_ascii=False)}
                 for t in case.get("tools", [])]
        out.append({"name": case["name"], "messages": case["messages"], "tools": tools,
                    "options": options, "expected": template.render(**kwargs)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "engine",
                        "chat_goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"template": "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja (llama-cpp-python 0.3.36)",
                   "cases": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} ({len(out)} cases)")


if __name__ == "__main__":
    main()
