"""10,000 real trajectory texts, one JSON string a line, for the embedding benchmarks.

Usage: python3 make_real_texts.py EXPORT.jsonl OUT.jsonl, where EXPORT.jsonl is
`trajstore export` of a store holding ../shared/realdata (each folder imported).
Per trajectory: its question and final answer (what the store embeds), then assistant
and tool step contents, each cut at 2,000 characters, the formats taken in turn.
"""

import json, random, collections, sys
random.seed(7)
CUT = 2000
def text_of(c):
    if c is None: return ""
    if isinstance(c, str): return c
    if isinstance(c, list):
        return "\n".join(text_of(x.get("text") if isinstance(x, dict) else x) for x in c)
    if isinstance(c, dict): return text_of(c.get("text", ""))
    return str(c)
traj_texts = collections.defaultdict(list)
step_texts = collections.defaultdict(list)
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        fmt = (r.get("metadata") or {}).get("source_format", "?")
        steps = r.get("steps") or []
        q = (r.get("task") or {}).get("question") or ""
        if not q:
            q = next((text_of(s.get("content")) for s in steps if s.get("role") == "user"), "")
        final = next((text_of(s.get("content")) for s in reversed(steps) if s.get("role") == "assistant" and text_of(s.get("content")).strip()), "")
        t = (q + "\n\n" + final).strip()
        if t: traj_texts[fmt].append(t[:CUT])
        for s in steps:
            if s.get("role") in ("assistant", "tool"):
                c = text_of(s.get("content")).strip()
                if c: step_texts[fmt].append(c[:CUT])
pools = []
for fmt in sorted(set(traj_texts) | set(step_texts)):
    a = traj_texts[fmt]; b = step_texts[fmt]
    random.shuffle(a); random.shuffle(b)
    # trajectory texts first, then steps
    pools.append((fmt, a + b))
    print(fmt, len(a), len(b))
seen = set(); out = []
idx = [0]*len(pools)
while len(out) < 10000:
    progressed = False
    for i, (fmt, p) in enumerate(pools):
        while idx[i] < len(p):
            t = p[idx[i]]; idx[i] += 1
            if t not in seen:
                seen.add(t); out.append(t); progressed = True; break
        if len(out) >= 10000: break
    if not progressed: break
random.shuffle(out)
with open(sys.argv[2], 'w') as f:
    for t in out: f.write(json.dumps(t) + "\n")
L = sorted(len(t) for t in out)
print(len(out), "mean chars", sum(L)/len(L), "median", L[len(L)//2])
