#!/usr/bin/env python3
"""Builds cases.jsonl, the labelled PII set: chat-like zh/en messages (frames.txt, written by
hand) with their numbers, addresses and IDs filled in by this script from a fixed seed.

    python3 make.py > cases.jsonl        (deterministic: same output every run)

Every frame is filled twice, with different values (FILLS), so the set has twice as many lines
as frames.txt has frames.

Placeholders in a frame:
  {m} mobile 13812345678   {ms} 138 1234 5678   {md} 138-1234-5678   {mcc} with +86/0086/(+86)
  {mfw} full-width mobile  {ll} mainland landline  {intl} international with +cc
  {us} North American without +1  {uk} UK mobile 07700 900xxx
  {em} e-mail  {wx} WeChat ID  {wxm} a mobile number given as the WeChat ID  {id} resident ID  {idx} resident ID ending in X
  {card} bank card digits  {cards} card in groups of 4
Negatives (no PII): {order} order number, {bad_id} ID-shaped with a wrong check digit,
  {bad_card} 16 digits failing Luhn, {track} courier tracking number, {price}, {qty}
"""
import json, random, sys, os

R = random.Random(20261121)
HERE = os.path.dirname(os.path.abspath(__file__))

def fw(s):
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)

def mobile():
    return R.choice(["13", "15", "17", "18", "19", "16", "14"]) + str(R.randint(0, 9)) + "".join(R.choice("0123456789") for _ in range(8))

def luhn_digit(s):
    total = 0
    for i, c in enumerate(reversed(s)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)

def luhn_ok(s):
    total = 0
    for i, c in enumerate(reversed(s)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
def id_check(s17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(s17, W)) % 11]

REGIONS = ["110105", "310104", "440305", "330106", "510107", "420106", "320102", "370202", "610113", "500103"]
def resident_id(want_x=False):
    while True:
        y, m, d = R.randint(1955, 2004), R.randint(1, 12), R.randint(1, 28)
        s17 = R.choice(REGIONS) + f"{y:04d}{m:02d}{d:02d}" + f"{R.randint(0, 999):03d}"
        c = id_check(s17)
        if want_x == (c == "X"):
            return s17 + c

def bad_id():
    s = resident_id()
    c = s[-1]
    wrong = R.choice([x for x in "0123456789" if x != c])
    return s[:17] + wrong

def card(n=None):
    n = n or R.choice([16, 16, 16, 19, 19])
    prefix = R.choice(["6222", "6228", "6217", "6225", "4367", "5187", "6212", "6013"])
    body = prefix + "".join(R.choice("0123456789") for _ in range(n - len(prefix) - 1))
    return body + luhn_digit(body)

def bad_card():
    while True:
        s = "62" + "".join(R.choice("0123456789") for _ in range(14))
        if not luhn_ok(s):
            return s

def not_luhn(n, prefix=""):
    while True:
        s = prefix + "".join(R.choice("0123456789") for _ in range(n - len(prefix)))
        if not luhn_ok(s):
            return s

GIVEN = ["zhangwei", "li.na", "wangfang", "liu_yang", "chenjing", "yang.lei", "zhao.min", "huang_qiang",
         "emma.wilson", "jsmith", "priya.k", "tom_h", "sarah.lee", "m.garcia", "olivia88", "kevin.zhou",
         "sales.lead", "purchase", "it-admin", "finance.dept", "ops2025", "alex.chen", "nina_w", "david.o"]
DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "example.com", "foxmail.com",
           "acme-tech.cn", "yunfan.com.cn", "mail.example.org", "hotmail.com", "sina.com"]
def email():
    return R.choice(GIVEN) + R.choice(["", "", str(R.randint(1, 99))]) + "@" + R.choice(DOMAINS)

def wechat():
    head = R.choice(["wxid_", "lily", "Tony", "zhang", "sunny_", "Kevin", "mike", "chen", "wang_", "Amy"])
    return head + "".join(R.choice("abcdefghijkmnpqrstuvwxyz0123456789_") for _ in range(R.randint(4, 8)))

def mobile_cc():
    m = mobile()
    return R.choice([f"+86 {m[:3]} {m[3:7]} {m[7:]}", f"+86-{m}", f"0086 {m}", f"(+86){m}", f"+86{m}"])

def landline():
    return R.choice([
        f"010-{R.randint(6, 8)}{R.randint(1000000, 9999999)}",
        f"021-{R.randint(5, 6)}{R.randint(1000000, 9999999)}",
        f"0571-8{R.randint(1000000, 9999999)}",
        f"(0755){R.randint(2, 8)}{R.randint(1000000, 9999999)}",
        f"020 {R.randint(3, 8)}{R.randint(100, 999)} {R.randint(1000, 9999)}",
    ])

def intl():
    return R.choice([
        f"+44 20 7946 0{R.randint(100, 999)}",
        f"+1 (650) 555-01{R.randint(10, 99)}",
        f"+1 415-555-01{R.randint(10, 99)}",
        f"+65 6{R.randint(100, 999)} {R.randint(1000, 9999)}",
        f"+852 2{R.randint(100, 999)} {R.randint(1000, 9999)}",
        f"+49 30 {R.randint(1000000, 9999999)}",
        f"+81 3-{R.randint(1000, 9999)}-{R.randint(1000, 9999)}",
    ])

FILL = {
    "m": ("phone", mobile),
    "ms": ("phone", lambda: (lambda m: f"{m[:3]} {m[3:7]} {m[7:]}")(mobile())),
    "md": ("phone", lambda: (lambda m: f"{m[:3]}-{m[3:7]}-{m[7:]}")(mobile())),
    "mcc": ("phone", mobile_cc),
    "mfw": ("phone", lambda: fw(mobile())),
    "ll": ("phone", landline),
    "intl": ("phone", intl),
    "us": ("phone", lambda: R.choice([f"650-555-01{R.randint(10, 99)}", f"(212) 555-01{R.randint(10, 99)}", f"415 555 01{R.randint(10, 99)}"])),
    "uk": ("phone", lambda: f"07700 900{R.randint(100, 999)}"),
    "em": ("email", email),
    "wxm": ("wechat", mobile),
    "wx": ("wechat", wechat),
    "id": ("resident_id", resident_id),
    "idx": ("resident_id", lambda: resident_id(True)),
    "card": ("bank_card", card),
    "cards": ("bank_card", lambda: " ".join((lambda c: [c[i:i + 4] for i in range(0, 16, 4)])(card(16)))),
    "order": (None, lambda: R.choice(["DD", "SO", "PO-", ""]) + not_luhn(12, "2026")),
    "bad_id": (None, bad_id),
    "bad_card": (None, bad_card),
    "track": (None, lambda: R.choice(["SF", "YT", "JD"]) + not_luhn(12, "")),
    "price": (None, lambda: str(R.choice([199, 2999, 4800, 12800, 35000, 99000]))),
    "qty": (None, lambda: str(R.randint(2, 500))),
}

def main():
    out = sys.stdout
    frames = open(os.path.join(HERE, "frames.txt"), encoding="utf-8").read().splitlines()
    for _ in range(FILLS):
        fill(frames, out)

FILLS = 2

def fill(frames, out):
    lang = None
    for raw in frames:
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            if line.startswith("# lang:"):
                lang = line.split(":", 1)[1].strip()
            continue
        text, pii, i = "", [], 0
        while i < len(line):
            if line[i] == "{":
                j = line.index("}", i)
                kind, gen = FILL[line[i + 1:j]]
                value = gen()
                if kind:
                    pii.append({"kind": kind, "text": value})
                text += value
                i = j + 1
            else:
                text += line[i]
                i += 1
        out.write(json.dumps({"text": text, "lang": lang, "pii": pii}, ensure_ascii=False) + "\n")

main()
