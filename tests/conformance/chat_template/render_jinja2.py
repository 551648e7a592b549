#!/usr/bin/env python3
"""Renders the cases render_reference.mjs wrote with Jinja2 in the
environment transformers' apply_chat_template compiles chat templates in
(transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment
with trim_blocks and lstrip_blocks, the loopcontrols extension, its own
tojson, raise_exception and strftime_now), and adds the result to each
case as "jinja2": {"output": …} or {"error": …, "raised": bool}.

Jinja2 is what transformers runs, so it is the reference Djinn must equal;
@huggingface/jinja is checked against too, and where the two references
disagree the test says so.

usage: render_jinja2.py CASES_DIR
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Raised(Exception):
    pass


def main(root):
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    n = manifest["now"]
    now = datetime.datetime(n["year"], n["month"], n["day"], n["hour"], n["minute"], n["second"])

    def raise_exception(message):
        raise Raised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: now.strftime(fmt)

    total = 0
    for name in manifest["models"]:
        directory = os.path.join(root, name)
        with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        special = {}
        for key in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
            v = config.get(key)
            if v is not None:
                special[key] = v if isinstance(v, str) else v["content"]
        if isinstance(config.get("additional_special_tokens"), list):
            special["additional_special_tokens"] = [
                t if isinstance(t, str) else t["content"] for t in config["additional_special_tokens"]]
        template = env.from_string(config["chat_template"])
        with open(os.path.join(directory, "cases.json"), encoding="utf-8") as f:
            cases = json.load(f)
        for case in cases:
            try:
                output = template.render(messages=case["messages"], tools=None, documents=None,
                                         add_generation_prompt=case["add_generation_prompt"], **special)
                case["jinja2"] = {"output": output}
            except Raised as e:
                case["jinja2"] = {"error": str(e), "raised": True}
            except Exception as e:  # what transformers would raise to its caller
                case["jinja2"] = {"error": f"{type(e).__name__}: {e}", "raised": False}
        with open(os.path.join(directory, "cases.json"), "w", encoding="utf-8") as f:
            json.dump(cases, f, ensure_ascii=False)
        total += len(cases)
    print(f"jinja2 {jinja2.__version__}: {total} renders")


if __name__ == "__main__":
    main(sys.argv[1])
