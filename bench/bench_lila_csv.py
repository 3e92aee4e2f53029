#!/usr/bin/env python
"""Benchmark: the first load of LILA's combined CSV (`nacti_dl.lila_all.load_lila_csv`, in a fresh process, whole
command) against MegaDetector's `read_lila_all_images_file` (unzip to disk + pandas), side by side in one run, on a
generated zip with LILA's header (`nacti_dl.lila_synth`). "Ours" is the whole command `nacti-dl categories --dataset all
--metadata F --json` (`--cli`), or by default the same calls in a fresh Python (`get_lila_csv`, `rank_table`, the JSON):
first load, cached load, cached `--rank family`; then a cached selection + plan (`plan_source` + `make_plan`). Wall time, CPU time
(user + system) and peak RSS of each child process (`os.wait4`). On a shared, loaded machine the wall times swing
by 2x or more from run to run; CPU time is steadier, but hides what a second core gains.

    python bench/bench_lila_csv.py [--images N] [--root DIR] [--repeat R] [--md-python PY | --no-md] [--cli] [--classes SPEC]

MegaDetector runs in its own venv (default: .venv-md beside this repo), never the project's:
    python -m venv .venv-md && .venv-md/bin/pip install --no-deps megadetector && .venv-md/bin/pip install pandas pyarrow numpy tqdm requests pytest jsonpickle
The zip is put in MegaDetector's folder first, so it does not download; its unzipped copy is deleted before each run.
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

ZIP = 'lila_image_urls_and_labels.csv.zip'
OURS = """import json, sys
from nacti_dl.metadata import get_lila_csv
lila = get_lila_csv(metadata=sys.argv[1], cache_dir=sys.argv[2], progress=False)
table = lila.rank_table(None if sys.argv[3] == '-' else sys.argv[3])
text = json.dumps(table, indent=1, ensure_ascii=False) # what `categories --json` prints
print(json.dumps(dict(lila.counts, values=len(table), chars=len(text), first=table[0])))"""
PLAN = """import json, sys, time
from nacti_dl.metadata import get_lila_csv
from nacti_dl.plan import make_plan
lila = get_lila_csv(metadata=sys.argv[1], cache_dir=sys.argv[2], progress=False); lila.index()
t = time.perf_counter()
found, sel = lila.plan_source(sys.argv[3])
plan = make_plan(sel, found, cap=55000, seed=0, per_sequence=1)
print(json.dumps(dict(seconds=time.perf_counter() - t, images=sel.n_images, planned=len(plan), classes=[s['planned'] for s in plan.summary])))"""
MD = """import sys
from megadetector.data_management.lila.lila_common import read_lila_all_images_file
df = read_lila_all_images_file(sys.argv[1]); print(len(df))"""

def run(cmd:list, env=None)->tuple:
    "(wall seconds, CPU seconds, peak RSS bytes, stdout) of one child process"
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = p.stdout.read(); p.stdout.close()
    _,status,ru = os.wait4(p.pid, 0); p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode: sys.exit(f"{cmd[0]} failed ({p.returncode})")
    return time.perf_counter() - t,ru.ru_utime + ru.ru_stime,ru.ru_maxrss * (1 if sys.platform == 'darwin' else 1024),out.decode().strip()

def cmd(a, src:Path, cache:Path, rank:str)->list:
    "The categories command: the real CLI, or the same calls in Python"
    if not a.cli: return [sys.executable, '-c', OURS, str(src), str(cache), rank]
    return ['nacti-dl', 'categories', '--dataset', 'all', '--metadata', str(src), '--cache-dir', str(cache), '--json', *(['--rank', rank] if rank != '-' else [])]

def zip_for(root:Path, images:int)->tuple:
    "The generated zip of `images` images (made once) and what it holds"
    d = root/f'lila-{images}'; src = d/'md'/ZIP
    if not (d/'made.json').exists():
        from nacti_dl.lila_synth import make_lila_csv_zip
        src.parent.mkdir(parents=True, exist_ok=True)
        (d/'made.json').write_text(json.dumps(make_lila_csv_zip(src, images, n_locations=200, malformed=images // 100_000, foreign=images // 100_000)))
    return src,json.loads((d/'made.json').read_text())

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--images', type=int, default=1_920_000, help='about 1.01 rows per image: 1,920,000 gives 1.94 M rows')
    p.add_argument('--root', type=Path, default=Path(os.environ.get('NACTI_DL_BENCH_DIR', '/tmp/nacti_dl_bench')))
    p.add_argument('--repeat', type=int, default=2)
    p.add_argument('--md-python', default=str(Path(__file__).resolve().parent.parent/'.venv-md'/'bin'/'python'))
    p.add_argument('--no-md', action='store_true', help="skip MegaDetector's reader (at 20 M rows it needs ~30 GB)")
    p.add_argument('--cli', action='store_true', help="time the real `nacti-dl categories --dataset all` (once the CLI has it) instead of its Python equivalent")
    p.add_argument('--classes', default='family:cervidae,bobcat,empty', help='the selection planned')
    a = p.parse_args()
    src,made = zip_for(a.root, a.images)
    print(f"{src}: {src.stat().st_size / 1e6:,.0f} MB zip; {made}", flush=True)
    cache = src.parent.parent/'cache'
    for i in range(a.repeat):
        if not a.no_md:
            (src.parent/ZIP.removesuffix('.zip')).unlink(missing_ok=True)
            wall,cpu,rss,out = run([a.md_python, '-c', MD, str(src.parent)])
            print(f"megadetector read_lila_all_images_file: {wall:6.2f} s wall {cpu:6.2f} s CPU {rss / 2**30:5.2f} GiB  rows {out.split()[-1]}", flush=True)
            (src.parent/ZIP.removesuffix('.zip')).unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
        for what,rank in (('first load', '-'), ('cached load', '-'), ('cached --rank family', 'family')):
            wall,cpu,rss,out = run(cmd(a, src, cache, rank))
            r = json.loads(out); r = dict(values=len(r)) if a.cli else r # the CLI prints the table alone
            counts = '' if a.cli else f"; rows {r['rows']:,} malformed {r['malformed']} foreign {r['foreign']}: " + \
                     ('exact' if all(r[k] == made[k] for k in ('rows', 'malformed', 'foreign')) else 'WRONG')
            print(f"nacti_dl categories --dataset all --json, {what:>20}: {wall:6.2f} s wall {cpu:6.2f} s CPU {rss / 2**30:5.2f} GiB  {r['values']} values{counts}", flush=True)
        wall,cpu,rss,out = run([sys.executable, '-c', PLAN, str(src), str(cache), a.classes])
        r = json.loads(out)
        print(f"nacti_dl selection {a.classes!r} + make_plan(cap=55000, per_sequence=1), cached: {r['seconds']:.2f} s in the process "
              f"({r['images']:,} images selected, {r['planned']:,} planned: {r['classes']}); whole process {wall:.2f} s, {rss / 2**30:.2f} GiB", flush=True)
    shutil.rmtree(cache, ignore_errors=True)

if __name__ == '__main__': main()
