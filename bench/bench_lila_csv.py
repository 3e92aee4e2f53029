#!/usr/bin/env python
"""Benchmark: the first load of LILA's combined CSV (`nacti_dl.lila_all.load_lila_csv`, in a fresh process, whole
command) against MegaDetector's `read_lila_all_images_file` (unzip to disk + pandas), side by side in one run, on a
generated zip with LILA's header (`nacti_dl.lila_synth`); then a cached load with a selection. Wall time, CPU time
(user + system) and peak RSS of each child process (`os.wait4`). On a shared, loaded machine the wall times swing
by 2x or more from run to run; CPU time is steadier, but hides what a second core gains.

    python bench/bench_lila_csv.py [--images N] [--root DIR] [--repeat R] [--md-python PY | --no-md]

MegaDetector runs in its own venv (default: .venv-md beside this repo), never the project's:
    python -m venv .venv-md && .venv-md/bin/pip install --no-deps megadetector && .venv-md/bin/pip install pandas pyarrow numpy tqdm requests pytest jsonpickle
The zip is put in MegaDetector's folder first, so it does not download; its unzipped copy is deleted before each run.
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

ZIP = 'lila_image_urls_and_labels.csv.zip'
OURS = """import json, sys, time
from pathlib import Path
from nacti_dl.lila_all import load_lila_csv
t = time.perf_counter(); lila = load_lila_csv(Path(sys.argv[1]), Path(sys.argv[2])); load = time.perf_counter() - t
t = time.perf_counter()
sel = lila.select(['dataset_name', 'path', 'sequence_id', 'location_id'], {'family': ['cervidae'], 'common_name': ['empty']})
select = time.perf_counter() - t; t = time.perf_counter()
deer = lila.select(['dataset_name', 'path', 'sequence_id', 'location_id'], {'family': ['cervidae']})
print(json.dumps(dict(lila.counts, load=load, select=select, selected=len(sel), deer=len(deer), select_deer=time.perf_counter() - t)))"""
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
        for what in ('first load', 'cached load'):
            wall,cpu,rss,out = run([sys.executable, '-c', OURS, str(src), str(cache)])
            r = json.loads(out)
            exact = all(r[k] == made[k] for k in ('rows', 'malformed', 'foreign'))
            print(f"nacti_dl {what:>11}: {wall:6.2f} s wall {cpu:6.2f} s CPU {rss / 2**30:5.2f} GiB  (load {r['load']:.2f} s; selections: cervidae or empty {r['selected']:,} rows "
                  f"{r['select']:.2f} s, cervidae {r['deer']:,} rows {r['select_deer']:.2f} s)  rows {r['rows']:,} malformed {r['malformed']} foreign {r['foreign']}: {'exact' if exact else 'WRONG'}", flush=True)
    shutil.rmtree(cache, ignore_errors=True)

if __name__ == '__main__': main()
