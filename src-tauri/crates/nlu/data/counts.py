#!/usr/bin/env python3
"""Prints the count tables of data/README.md (markdown). usage: python3 counts.py [sales|sentiment|fields]"""
import json, os, sys

DATA = os.path.dirname(os.path.abspath(__file__))
SALES = ["greeting", "product_inquiry", "price_inquiry", "feature_question", "compare_competitor",
         "purchase_intent", "request_demo_or_trial", "objection_price", "objection_timing",
         "objection_trust", "after_sales", "complaint", "request_human", "provide_contact",
         "provide_requirement", "chit_chat", "not_interested", "goodbye"]
SENT = ["positive", "neutral", "hesitant", "negative", "angry"]
KINDS = ["phone", "email", "wechat", "resident_id", "bank_card", "money", "quantity", "date_time",
         "company", "person"]


def load(p):
    try:
        return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]
    except FileNotFoundError:
        return []


def table(name, splits, labels, key):
    data = {s: load(f"{DATA}/{name}/{s}.jsonl") for s in splits}
    cols = [(s, l) for s in splits for l in ("zh", "en")]
    print(f"| label | " + " | ".join(f"{s} {l}" for s, l in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for lab in labels:
        cells = []
        for s, l in cols:
            cells.append(sum(key(r).count(lab) for r in data[s] if r["lang"] == l))
        print(f"| {lab} | " + " | ".join(map(str, cells)) + " |")
    print(f"| **lines** | " + " | ".join(str(sum(1 for r in data[s] if r['lang'] == l)) for s, l in cols) + " |")
    return data


which = sys.argv[1:] or ["sales", "sentiment", "fields"]
if "sales" in which:
    d = table("sales", ["train", "test"], SALES, lambda r: r["labels"])
    for s in d:
        rows = d[s]
        if rows:
            multi = sum(1 for r in rows if len(r["labels"]) > 1)
            print(f"\n{s}: {len(rows)} lines, {multi} multi-label ({100*multi/len(rows):.1f} %), "
                  f"{sum(len(r['labels']) for r in rows)/len(rows):.2f} labels/line")
    print()
if "sentiment" in which:
    table("sentiment", ["train", "test"], SENT, lambda r: [r["label"]])
    print()
if "fields" in which:
    d = table("fields", ["dev", "test"], KINDS, lambda r: [e["kind"] for e in r["entities"]])
    for s in d:
        rows = d[s]
        print(f"\n{s}: {len(rows)} lines, {sum(len(r['entities']) for r in rows)} entities, "
              f"{sum(1 for r in rows if not r['entities'])} lines with none")
