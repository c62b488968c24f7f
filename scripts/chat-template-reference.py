#!/usr/bin/env python3
"""Renders the chat templates in engine/tests/data/chat_templates.json with Python's jinja2 the
way Hugging Face transformers' apply_chat_template does (utils/chat_template_utils.py:
ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
strftime_now) and writes the expected prompts (or the error) beside each case.

The Rust test engine/tests/chat_template.rs renders the same cases with minijinja and must agree.
Run: python3 scripts/chat-template-reference.py   (needs jinja2)
"""
import json
import pathlib

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

PATH = pathlib.Path(__file__).resolve().parent.parent / "engine/tests/data/chat_templates.json"


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render(source, messages, add_generation_prompt, bos, eos):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: "26 Jul 2024"
    template = env.from_string(source)
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos)


doc = json.loads(PATH.read_text())
for case in doc["cases"]:
    t = doc["templates"][case["template"]]
    try:
        case["expected"] = render(t["source"], case["messages"], case["add_generation_prompt"], t["bos_token"], t["eos_token"])
        case.pop("error", None)
    except jinja2.exceptions.TemplateError as e:
        case.pop("expected", None)
        case["error"] = str(e)
PATH.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
print(f"wrote {len(doc['cases'])} cases to {PATH}")
