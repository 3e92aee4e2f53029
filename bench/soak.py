#!/usr/bin/env python
"""Soak test of the download engine: kill -9 loops, a killed-and-restarted mirror, then exact end-state checks.

Everything runs on 127.0.0.1 against `nacti_dl.mirror.MirrorServer` (in its own process, with latency and a fault
rate). Phases:

1. kill loop: N times, a subprocess downloads the plan into DEST and is killed with SIGKILL at a random moment;
2. mirror kills: a subprocess downloads the plan into DEST2 while the mirror process is SIGKILLed and restarted on
   the same port, twice; the run must ride it out (outage_s) and finish;
3. a final clean run into DEST;
4. checks, for both folders: every planned file present, verified and byte-identical to the mirror's (MD5), nothing
   else on disk, no `.tmp` anywhere, the SQLite state agreeing with the disk (all rows done, sizes and MD5s), the
   manifest listing exactly the verified files, and `nacti_dl.verify.verify_download(full=True).ok`.

    python bench/soak.py            # 20 kills, 4,000 files (a few minutes)
    python bench/soak.py --quick    # 4 kills, 600 files (under a minute)

Exit status 0 iff every check passed.
"""
from __future__ import annotations
import argparse, collections, csv, hashlib, json, os, random, shutil, signal, sqlite3, subprocess, sys, tempfile, time, zipfile
from pathlib import Path

from nacti_dl.mirror import MirrorServer, Faults, make_nacti
from nacti_dl.checks import verify_file
from nacti_dl.verify import verify_download

FIELDS = 'path url_path image_id file_name location width height category_ids names common_names'.split()

CHILD = """
import json, sys, collections
from nacti_dl.download import download
PI = collections.namedtuple('PI', {fields!r})
a = json.loads(sys.argv[1])
r = download([PI(*i) for i in json.load(open(a['plan']))], a['dest'], a['base_url'], workers=a['workers'],
             read_timeout=1, backoff=0.1, outage_s=a['outage_s'], progress=False)
print(json.dumps(dict(ok=r.ok, fetched=r.fetched, already=r.already, retries=r.retries, failed=dict(r.failed),
                      error=r.error, seconds=r.seconds)), flush=True)
"""


def plan_items(root: Path) -> list[list]:
    "Plan rows (PlanItem fields, lila layout) for every image of a generated data set"
    with zipfile.ZipFile(root/'nacti/nacti_metadata.1.14.json.zip') as z: doc = json.loads(z.read(z.namelist()[0]))
    cats, anns = {c['id']: c for c in doc['categories']}, collections.defaultdict(list)
    for a in doc['annotations']: anns[a['image_id']].append(cats[a['category_id']])
    return [[im['file_name'], f"nacti-unzipped/{im['file_name']}", im['id'], im['file_name'], im['location'], im['width'],
             im['height'], *(';'.join(str(c[k]) for c in anns[im['id']]) for k in ('id', 'name', 'common name'))]
            for im in doc['images']]


class Soak:
    def __init__(self, a):
        self.a, self.t0 = a, time.time()
        self.work = Path(tempfile.mkdtemp(prefix='nacti_soak_'))
        self.root, self.dest, self.dest2 = self.work/'mirror', self.work/'dest', self.work/'dest2'
        self.faults, self.requests = collections.Counter(), 0
        self.runs = self.kills = self.finished_early = self.mirror_kills = self.tmp_after_kill = 0
        self.retries, self.reports = 0, []
        self.mirror = None

    def log(self, *msg): print(f'[{time.time() - self.t0:6.1f} s]', *msg, flush=True)

    # -- the mirror -------------------------------------------------------------------------------------------------
    def start_mirror(self, port: int = 0):
        "Start the mirror process; its stderr (tracebacks of the faults it injects) goes to WORK/mirror.log"
        # a restarted mirror draws its faults afresh: its first-try faults are counted per process, so with the same
        # seed it would answer a path retried after the restart with the very fault it gave before (the same HTML
        # body twice), which the engine rightly takes as "the same wrong bytes twice" and stops trying
        a, log, saved = self.a, open(self.work/'mirror.log', 'a'), os.dup(2)
        os.dup2(log.fileno(), 2)   # the child process inherits fd 2
        try: self.mirror = MirrorServer(self.root, port=port, latency_ms=a.latency_ms, process=True,
                                        faults=Faults(rate=a.fault_rate, seed=a.seed + self.mirror_kills, stall_s=a.stall_s)).start()
        finally: os.dup2(saved, 2); os.close(saved); log.close()
        return self.mirror

    def harvest(self):
        "Add the mirror's stats to the totals (a killed mirror loses its stats: harvest first)"
        st = self.mirror.stats
        self.faults.update(st['faults']); self.requests += st['requests']

    def kill_mirror(self):
        "SIGKILL the mirror process (no clean shutdown), then start a new one on the same port"
        m, port = self.mirror, self.mirror.port
        self.harvest()
        m._proc.kill(); m._proc.wait(); m._proc.stdout.close(); m._proc = None; m.stop()
        self.mirror_kills += 1
        self.log(f'mirror killed (SIGKILL); down for {self.a.mirror_down_s:.1f} s')
        time.sleep(self.a.mirror_down_s)
        self.start_mirror(port)
        self.log(f'mirror back on port {port}')

    # -- download subprocesses ------------------------------------------------------------------------------------------
    def spawn(self, dest: Path, outage_s: float = 30) -> subprocess.Popen:
        args = dict(plan=str(self.plan), dest=str(dest), base_url=self.mirror.base_url, workers=self.a.workers, outage_s=outage_s)
        self.runs += 1
        return subprocess.Popen([sys.executable, '-c', CHILD.format(fields=FIELDS), json.dumps(args)],
                                stdout=subprocess.PIPE, text=True)

    def collect(self, proc: subprocess.Popen) -> dict:
        out, _ = proc.communicate()
        if proc.returncode != 0 or not out.strip(): raise RuntimeError(f'download run failed (exit {proc.returncode})')
        rep = json.loads(out.strip().splitlines()[-1])
        self.retries += rep['retries']; self.reports.append(rep)
        return rep

    def kill_loop(self):
        a = self.a; rng = random.Random(a.seed)
        for k in range(a.loops):
            if time.time() - self.t0 > a.budget * 0.6: self.log(f'time budget: kill loop stopped after {k} rounds'); break
            proc, delay = self.spawn(self.dest), rng.uniform(a.min_kill_s, a.max_kill_s)
            try: proc.wait(delay)
            except subprocess.TimeoutExpired: pass
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL); proc.wait(); proc.stdout.close(); self.kills += 1
                tmp = sum(1 for _ in self.dest.rglob('*.tmp')); self.tmp_after_kill += tmp
                self.log(f'run {k + 1}: killed -9 after {delay:.2f} s; {n_files(self.dest):,} files on disk, {tmp} .tmp left')
            else:
                rep = self.collect(proc); self.finished_early += 1
                self.log(f'run {k + 1}: finished before its kill at {delay:.2f} s: ok={rep["ok"]}, fetched {rep["fetched"]:,}')

    def mirror_phase(self):
        "A run into dest2 while the mirror is killed and restarted twice"
        proc = self.spawn(self.dest2)
        for _ in range(2):
            time.sleep(self.a.mirror_kill_after_s)
            if proc.poll() is not None: break
            self.log(f'mirror phase: {n_files(self.dest2):,} files in dest2')
            self.kill_mirror()
        rep = self.collect(proc)
        self.log(f'mirror phase run: ok={rep["ok"]}, fetched {rep["fetched"]:,}, retries {rep["retries"]:,}, error={rep["error"]}')
        return rep

    # -- checks ---------------------------------------------------------------------------------------------------------
    def check(self, dest: Path) -> tuple[int, list]:
        "(files verified, problems) of dest against the plan and the mirror's bytes"
        probs, want = [], {i[0]: i for i in self.items}
        on_disk = {p.relative_to(dest).as_posix() for p in dest.rglob('*') if p.is_file() and '.nacti_dl' not in p.parts}
        on_disk.discard('manifest.csv')
        if tmp := [p for p in dest.rglob('*') if p.name.endswith('.tmp')]: probs.append(f'{len(tmp)} .tmp files: {tmp[:3]}')
        if extra := on_disk - set(want): probs.append(f'{len(extra)} files not in the plan: {sorted(extra)[:3]}')
        good = 0
        for path, i in want.items():
            p = dest/path
            why = verify_file(p, i[5], i[6])
            if why is None and md5(p) != self.mirror_md5[path]: why = 'bytes differ from the mirror'
            if why: probs.append(f'{path}: {why}')
            else: good += 1
        probs += self.check_state(dest, want) + self.check_manifest(dest, want)
        res = verify_download(dest, full=True)
        if not res.ok: probs.append(f'verify_download(full=True) not ok:\n{res}')
        return good, probs

    def check_state(self, dest: Path, want: dict) -> list:
        con = sqlite3.connect(dest/'.nacti_dl/state.sqlite')
        try:
            run = con.execute("SELECT v FROM meta WHERE k='run'").fetchone()[0]
            running = con.execute("SELECT v FROM meta WHERE k='running'").fetchone()[0]
            rows = con.execute('SELECT path, status, bytes, md5 FROM files WHERE run=?', (run,)).fetchall()
        finally: con.close()
        probs = [] if running == 0 else ['state says a run is still going']
        if {r[0] for r in rows} != set(want): probs.append('state rows != plan')
        for path, status, size, h in rows:
            p = dest/path
            if status != 'done': probs.append(f'state: {path} is {status}')
            elif not p.exists() or p.stat().st_size != size: probs.append(f'state: {path} size {size} != disk')
            elif h is not None and h != self.mirror_md5[path]: probs.append(f'state: {path} md5 {h} != mirror')
        return probs

    def check_manifest(self, dest: Path, want: dict) -> list:
        rows = list(csv.DictReader(open(dest/'manifest.csv', newline='')))
        paths = [r['path'] for r in rows]
        probs = [] if len(paths) == len(set(paths)) == len(want) and set(paths) == set(want) else \
                [f'manifest: {len(paths)} rows, {len(set(paths) ^ set(want))} differ from the plan']
        probs += [f'manifest: {r["path"]} bytes {r["bytes"]} != disk' for r in rows
                  if (dest/r['path']).exists() and int(r['bytes']) != (dest/r['path']).stat().st_size]
        return probs

    # -- the whole soak -------------------------------------------------------------------------------------------------
    def run(self) -> bool:
        a = self.a
        self.log(f'making a mirror of {a.files:,} small JPEGs in {self.work}')
        make_nacti(self.root, n_images=a.files, seed=a.seed, dims=(160, 120))
        self.items = plan_items(self.root)
        self.plan = self.work/'plan.json'; self.plan.write_text(json.dumps(self.items))
        self.mirror_md5 = {i[0]: md5(self.root/i[1]) for i in self.items}
        self.start_mirror()
        self.log(f'mirror {self.mirror.base_url} (process), latency {a.latency_ms} ms, fault rate {a.fault_rate:.0%}')
        try:
            self.kill_loop()
            self.mirror_phase()
            rep = self.collect(self.spawn(self.dest))
            self.log(f'final clean run: ok={rep["ok"]}, fetched {rep["fetched"]:,}, already {rep["already"]:,}')
            self.harvest()
        finally: self.mirror.stop()
        self.log('checking both folders (MD5 of every file, state, manifest, verify_download(full=True))')
        results = {d.name: self.check(d) for d in (self.dest, self.dest2)}
        return self.summary(results, rep)

    def summary(self, results: dict, final: dict) -> bool:
        n = len(self.items); ok = all(not p for _, p in results.values()) and final['ok']
        lost = sum(n - g for g, _ in results.values())
        lines = ['', '=' * 78, f'SOAK {"PASSED" if ok else "FAILED"} in {time.time() - self.t0:.0f} s (all traffic on 127.0.0.1)',
                 f'plan: {n:,} files x 2 folders; mirror latency {self.a.latency_ms} ms, fault rate {self.a.fault_rate:.0%}, '
                 f'{self.a.workers} workers',
                 f'download runs: {self.runs}; killed -9 mid-run: {self.kills}; finished before their kill: {self.finished_early}',
                 f'.tmp files left by the kills: {self.tmp_after_kill:,} (all removed by later runs)',
                 f'mirror process killed -9 and restarted: {self.mirror_kills}',
                 f'mirror requests: {self.requests:,}; faults injected (as counted by the mirrors): {sum(self.faults.values()):,} ('
                 + ', '.join(f'{k} {v}' for k, v in sorted(self.faults.items())) + ')',
                 f'retries reported by the runs that finished: {self.retries:,}',
                 f'final run: fetched {final["fetched"]:,}, already there {final["already"]:,}, ok={final["ok"]}']
        for name, (good, probs) in results.items():
            lines.append(f'{name}: files verified (cheap check + MD5 vs mirror): {good:,} of {n:,}; problems: {len(probs)}')
            lines += [f'  {p}' for p in probs[:10]]
        lines += [f'files lost: {lost}', '=' * 78]
        print('\n'.join(lines), flush=True)
        return ok


def n_files(d: Path) -> int: return sum(1 for p in d.rglob('*') if p.is_file() and p.suffix.lower() == '.jpg')


def md5(p: Path) -> str: return hashlib.md5(Path(p).read_bytes()).hexdigest()


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--loops', type=int, default=20, help='kill -9 rounds')
    ap.add_argument('--files', type=int, default=4000, help='planned files')
    ap.add_argument('--quick', action='store_true', help='a short version: 4 rounds, 600 files')
    ap.add_argument('--workers', type=int, default=8)
    ap.add_argument('--latency-ms', type=float, default=30)
    ap.add_argument('--fault-rate', type=float, default=0.1)
    ap.add_argument('--stall-s', type=float, default=2, help='how long a stalled response hangs (read timeout is 1 s)')
    ap.add_argument('--min-kill-s', type=float, default=0.8, help='earliest kill after a run starts (it imports first)')
    ap.add_argument('--max-kill-s', type=float, default=3.0)
    ap.add_argument('--mirror-kill-after-s', type=float, default=2.5)
    ap.add_argument('--mirror-down-s', type=float, default=2.0)
    ap.add_argument('--budget', type=float, default=540, help='seconds; the kill loop stops at 60%% of it')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--keep', action='store_true', help='keep the work folder (mirror, folders, logs) for a look afterwards')
    a = ap.parse_args(argv)
    if a.quick: a.loops, a.files, a.budget = min(a.loops, 4), min(a.files, 600), min(a.budget, 120)
    return a


if __name__ == '__main__':
    soak = Soak(parse())
    try: ok = soak.run()
    finally:
        if soak.a.keep: print(f'work folder kept: {soak.work}')
        else: shutil.rmtree(soak.work, ignore_errors=True)   # nothing left in the temp folder
    sys.exit(0 if ok else 1)
