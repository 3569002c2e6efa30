import json, os, collections
ROOT="/work/shared/data/support-docs/zulip/docs/"
P="/work/main/eval/zulip/questions.jsonl"
want={"unanswerable":20,"handoff":4,"chitchat":3,"followup":3}
errs=[]; kinds=collections.Counter(); golds=set(); ids=set()
lines=open(P,encoding="utf-8").read().splitlines()
for n,line in enumerate(lines,1):
    o=json.loads(line)
    assert list(o)==["id","question","kind","answerable","gold","facts","previous"], (n,list(o))
    if o["id"] in ids: errs.append(f"dup id {o['id']}")
    ids.add(o["id"]); k=o["kind"]; kinds[k]+=1
    wc=len(o["question"].split())
    if not 5<=wc<=40: errs.append(f"{o['id']}: {wc} words")
    if k in ("howto","troubleshoot","followup"):
        if not o["answerable"] or not 1<=len(o["gold"])<=2 or not 1<=len(o["facts"])<=3: errs.append(f"{o['id']}: bad answerable/gold/facts shape")
        if k!="followup": golds.update(o["gold"])
        if k=="followup":
            p=o["previous"]
            if not (isinstance(p,dict) and p.get("question") and p.get("gold")): errs.append(f"{o['id']}: bad previous")
            else:
                for g in p["gold"]:
                    if not os.path.isfile(ROOT+g): errs.append(f"{o['id']}: previous gold missing {g}")
        elif o["previous"] is not None: errs.append(f"{o['id']}: previous should be null")
    else:
        if o["answerable"] or o["gold"] or o["facts"] or o["previous"] is not None: errs.append(f"{o['id']}: non-answerable must have empty gold/facts")
    texts=[]
    for g in o["gold"]:
        if not os.path.isfile(ROOT+g): errs.append(f"{o['id']}: gold missing {g}")
        else: texts.append(open(ROOT+g,encoding="utf-8").read().lower())
    for f in o["facts"]:
        if len(f.split())>6: errs.append(f"{o['id']}: fact too long {f!r}")
        if not any(f.lower() in t for t in texts): errs.append(f"{o['id']}: fact not found {f!r}")
ans=kinds["howto"]+kinds["troubleshoot"]
print("lines:",len(lines)," kinds:",dict(kinds)," answerable(howto+troubleshoot):",ans)
print("distinct gold files among standalone answerable:",len(golds))
if len(lines)!=80: errs.append("not 80 lines")
if ans!=50: errs.append("answerable != 50")
for k,v in want.items():
    if kinds[k]!=v: errs.append(f"kind {k}: {kinds[k]} != {v}")
if len(golds)<40: errs.append("fewer than 40 distinct gold files")
print("ERRORS:" if errs else "ALL CHECKS PASSED", *errs, sep="\n  ")
