#!/usr/bin/env python3
"""Writes both step templates from one source, so the Bash and PowerShell twins cannot drift.

    step-template/generate.py           write step-template/*.json
    step-template/generate.py --check   fail if a committed template differs from the source

step-template/source/template.json holds the template once ("Template") and what differs per
worker ("Variants": file, Id, Name, Syntax, Body, Runs). Every "{{Key}}" in the template's
strings becomes the variant's value; {{Body}} becomes the text of source/<Body>. Everything
else (parameters, their ids, labels, defaults and help, the package reference) is shared.
"""
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent


def render(value, variant):
    if isinstance(value, dict):
        return {k: render(v, variant) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variant) for v in value]
    if isinstance(value, str):
        return re.sub(r"\{\{(\w+)\}\}", lambda m: variant[m.group(1)], value)
    return value


def templates():
    source = json.loads((HERE / "source" / "template.json").read_text(encoding="utf-8"))
    for variant in source["Variants"]:
        values = dict(variant)
        values["Body"] = (HERE / "source" / variant["Body"]).read_text(encoding="utf-8")
        text = json.dumps(render(source["Template"], values), indent=2, ensure_ascii=False) + "\n"
        yield HERE / variant["File"], text


def main():
    check = sys.argv[1:] == ["--check"]
    stale = []
    for path, text in templates():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8", newline="\n")
    if stale:
        sys.exit(f"{', '.join(stale)} differ from step-template/source/: run step-template/generate.py and commit the result")


main()
