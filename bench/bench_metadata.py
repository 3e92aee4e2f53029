#!/usr/bin/env python
"""Benchmark: NACTI metadata parse (`nacti_dl.metadata.load_metadata`) against stdlib `json.load`.

Makes (or reuses) a full-scale NACTI-shaped metadata zip with `nacti_dl.mirror.make_nacti` (3.38 M images, ~1 GB of
JSON), then measures, each in a fresh subprocess (so peak RSS is that of the operation's process alone): stdlib
json.load of the zip member and of the unzipped JSON; our first load (parse + writing the cache) of the zip and of the
unzipped JSON; our load from the cache. Each process gets its own cache folder (NACTI_DL_CACHE), which the first
loads empty first. Wall time is measured inside the subprocess around the operation (imports excluded), with the
kernel (system) CPU time and the page faults of the process in it; peak RSS is the process's ru_maxrss. Runs are
interleaved and repeated; the table shows the fastest run's figures and the largest peak of the repeats. Prints a
markdown table and the ratios against the targets: first load of the zip at least 2x faster than stdlib json.load of
it, with at most 2/3 of its peak RSS; cached load under 0.5 s. Then the whole command `nacti-dl categories --metadata
ZIP` on the cached metadata (issue #20: under 0.5 s), `--repeat` x 5 runs in fresh processes: the median wall time
and CPU time (user + system, from `os.wait4`), imports and interpreter start included.

    python bench/bench_metadata.py [--root DIR] [--n-images N] [--repeat R]
"""
import argparse, json, os, platform, subprocess, sys, time, zipfile
from pathlib import Path

CASES = {
    'stdlib `json.load` (zip member)': """
with zipfile.ZipFile(src) as z, z.open(z.namelist()[0]) as f: d = json.load(f)
n = len(d['images'])""",
    'stdlib `json.load` (unzipped JSON)': """
with open(json_path, 'rb') as f: d = json.load(f)
n = len(d['images'])""",
    'nacti_dl first load (parse + write cache)': """
cache_path(Path(src)).unlink(missing_ok=True)
m = load_metadata(src); n = m.n_images""",
    'nacti_dl first load of the unzipped JSON': """
cache_path(Path(json_path)).unlink(missing_ok=True)
m = load_metadata(json_path); n = m.n_images""",
    'nacti_dl load from cache': """
m = load_metadata(src); n = m.n_images; counts = [c.count for c in m.categories]""",
}

PROLOGUE = """
import json, resource, sys, time, zipfile
from pathlib import Path
from nacti_dl.metadata import load_metadata
from nacti_dl.cachefile import cache_path
src, json_path = sys.argv[1], sys.argv[2]
t, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
"""
EPILOGUE = """
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(seconds=dt, sys_s=ru.ru_stime - ru0.ru_stime, faults=ru.ru_minflt - ru0.ru_minflt, peak_mb=ru.ru_maxrss / 1024, n=n)))
"""

def run_case(name:str, code:str, src:Path, json_path:Path, cache_dir:Path)->dict:
    "Run one case in a fresh interpreter; its JSON result"
    env = dict(os.environ, NACTI_DL_CACHE=str(cache_dir))
    out = subprocess.run([sys.executable, '-c', PROLOGUE + code + EPILOGUE, str(src), str(json_path)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])

def whole_command(src:Path, cache_dir:Path, runs:int)->dict:
    "`nacti-dl categories --metadata src` in fresh processes on the cached metadata: median wall and CPU seconds, as the console script runs it"
    cmd = [sys.executable, '-c', 'import sys; from nacti_dl.cli import main; sys.exit(main())', 'categories', '--metadata', str(src)]
    env = dict(os.environ, NACTI_DL_CACHE=str(cache_dir))
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)   # the caches are there before the clock
    res = []
    for _ in range(runs):
        t = time.perf_counter(); p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0); wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status): raise RuntimeError(f"{cmd} failed")
        res.append(dict(seconds=wall, cpu_s=ru.ru_utime + ru.ru_stime, sys_s=ru.ru_stime, faults=ru.ru_minflt, peak_mb=ru.ru_maxrss / 1024))
    med = lambda k: sorted(o[k] for o in res)[len(res) // 2]
    return {k: med(k) for k in res[0]} | dict(walls=[o['seconds'] for o in res], cpus=[o['cpu_s'] for o in res])

def data_files(root:Path, n_images:int)->tuple:
    "The metadata zip (made when missing) and its unzipped JSON (extracted when missing)"
    from nacti_dl.mirror import make_nacti
    from nacti_dl.lila import NACTI
    src = root/NACTI.metadata
    if src.exists():
        with zipfile.ZipFile(src) as z: size = z.infolist()[0].file_size
        print(f"reusing {src} ({src.stat().st_size/1e6:.0f} MB zip, {size/1e9:.2f} GB JSON)")
    else:
        t = time.perf_counter(); src = make_nacti(root, n_images, seed=0, jpegs=False, progress=True)
        print(f"made {src} in {time.perf_counter() - t:.0f} s")
    json_path = src.with_suffix('')  # nacti_metadata.1.14.json
    if not json_path.exists():
        with zipfile.ZipFile(src) as z: z.extract(z.namelist()[0], src.parent)
    return src,json_path

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=Path(os.environ.get('NACTI_DL_BENCH_DIR', '/tmp/nacti_dl_bench')),
                   help='folder for the generated data set (reused when there)')
    p.add_argument('--n-images', type=int, default=3_380_000)
    p.add_argument('--repeat', type=int, default=2)
    a = p.parse_args()
    src,json_path = data_files(a.root, a.n_images)
    results,cache_dir = {k: [] for k in CASES},a.root/'cache'
    for r in range(a.repeat):
        for name,code in CASES.items():
            res = run_case(name, code, src, json_path, cache_dir); results[name].append(res)
            print(f"  run {r+1}: {name}: {res['seconds']:.2f} s (system {res['sys_s']:.2f} s, {res['faults']:,} page faults), {res['peak_mb']:,.0f} MB", file=sys.stderr)
    fastest = {k: min(v, key=lambda o: o['seconds']) for k,v in results.items()}
    best = {k: dict(fastest[k], peak_mb=max(o['peak_mb'] for o in v)) for k,v in results.items()}
    with zipfile.ZipFile(src) as z: json_gb = z.infolist()[0].file_size / 1e9
    print(f"\n{best[next(iter(CASES))]['n']:,} images, {json_gb:.2f} GB JSON ({src.stat().st_size/1e6:.0f} MB zip); "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; best time / largest peak of {a.repeat} runs\n")
    print('| what | time (s) | of which system (s) | page faults | peak RSS (MB) |\n|---|---:|---:|---:|---:|')
    for k,v in best.items(): print(f"| {k} | {v['seconds']:.2f} | {v['sys_s']:.2f} | {v['faults']:,} | {v['peak_mb']:,.0f} |")
    ours = ', '.join(f"{o['seconds']:.2f}" for o in results['nacti_dl first load (parse + write cache)'])
    print(f"\n(time, system time and page faults of the fastest run; our first loads of the zip in each run: {ours} s)")
    base,plain,first,cached = (best[k] for k in ('stdlib `json.load` (zip member)', 'stdlib `json.load` (unzipped JSON)',
                                                 'nacti_dl first load (parse + write cache)', 'nacti_dl load from cache'))
    first_json = best['nacti_dl first load of the unzipped JSON']
    speed,mem = base['seconds'] / first['seconds'],first['peak_mb'] / base['peak_mb']
    speed_plain,mem_plain = plain['seconds'] / first_json['seconds'],first_json['peak_mb'] / plain['peak_mb']
    # like for like: the same input for both, the zip LILA ships or its unzipped JSON
    print(f"\n- first load of the zip: {speed:.1f}x faster than stdlib json.load of it (target >= 2x): {'met' if speed >= 2 else 'NOT met'}")
    print(f"- first load of the zip: peak RSS {mem:.2f} of stdlib's (target <= 0.67): {'met' if mem <= 2/3 else 'NOT met'}")
    print(f"- first load of the unzipped JSON: {speed_plain:.1f}x faster than stdlib json.load of it, peak RSS {mem_plain:.2f} of stdlib's")
    print(f"- load from cache: {cached['seconds']:.2f} s (target < 0.5 s): {'met' if cached['seconds'] < 0.5 else 'NOT met'}")
    w = whole_command(src, cache_dir, a.repeat * 5)
    print(f"\n| `nacti-dl categories --metadata ZIP`, whole command, cached (median of {len(w['walls'])}) | {w['seconds']:.2f} | "
          f"{w['sys_s']:.2f} | {w['faults']:,} | {w['peak_mb']:,.0f} |")
    print(f"- whole command from cache: {w['seconds']:.2f} s wall, {w['cpu_s']:.2f} s CPU (user + system), medians; wall "
          f"{min(w['walls']):.2f}-{max(w['walls']):.2f} s, CPU {min(w['cpus']):.2f}-{max(w['cpus']):.2f} s (target < 0.5 s: "
          f"{'met' if w['seconds'] < 0.5 else 'NOT met'}; on a shared machine the CPU time is the steadier figure)")

if __name__ == '__main__': main()
