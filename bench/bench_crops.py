#!/usr/bin/env python
"""Animal crops on download: the whole `nacti-dl download --crops` command against a plain download of the same images.

A local TLS mirror (nacti_dl.mirror.MirrorServer in its own process, 30 ms first-byte latency: the TLS stand-in)
serves a NACTI-shaped data set of --n images whose files are photo-like JPEGs at NACTI's real size (2048x1536, ~0.4 MB:
decoding costs what a real photo costs). A MegaDetector results file in LILA's format gives every image one to three
animal boxes, so the crops run and the plain runs plan exactly the same images (`--md-results`; all its animal
classes, `empty` left out: it has nothing to crop). Each run is the whole command in a fresh process into a fresh folder, at --workers (default 32), alternating:

  plain        nacti-dl download (originals)
  plain/224    nacti-dl download --max-side 224 (each frame decoded and resized: the nearest whole-frame work)
  crops/224    nacti-dl download --crops --max-side 224 (each box cut from the verified bytes in memory, no frame on disk)

For each: images/s of the whole command (metadata from the cache, plan, estimate, download), CPU seconds of the
command and its children, files and bytes on disk (images only). With --rss-n it
then runs the crops command at each of those sizes (on mirrors of smaller frames, --rss-dims, so 100,000 images fit the
disk) and prints its peak RSS and that of its cropping processes, to show memory stays flat as the images grow.

    .venv/bin/python bench/bench_crops.py                       # 1,000 images, 2 rounds, ~5 minutes on 2 cores
    .venv/bin/python bench/bench_crops.py --n 600 --rounds 3 --rss-n 1000,4000,10000   # ~10 minutes
    .venv/bin/python bench/bench_crops.py --rounds 0 --rss-n 1000,10000,100000          # memory only, ~30 minutes
"""
import argparse, contextlib, json, os, random, shutil, statistics, subprocess, sys, tempfile, time, zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))

from bench_resize import make_mirror, disk_use
from nacti_dl.mirror import MirrorServer

NACTI_DL = str(Path(sys.executable).parent/'nacti-dl')   # the console script of this environment


def md_results(meta, path: Path, seed: int = 0):
    "A MegaDetector results file (LILA's batch format, zipped) with one to three animal boxes on every image"
    rng, images = random.Random(seed), []
    for i in range(meta.n_images):
        dets = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            w, h = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4)
            dets.append(dict(category='1', conf=round(rng.uniform(0.3, 0.99), 3),
                             bbox=[round(rng.uniform(0, 1 - w), 4), round(rng.uniform(0, 1 - h), 4), round(w, 4), round(h, 4)]))
        images.append(dict(file=meta.file_name(i), detections=dets))
    doc = dict(info=dict(format_version='1.4'), detection_categories={'1': 'animal', '2': 'person', '3': 'vehicle'}, images=images)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z: z.writestr(path.name.removesuffix('.zip'), json.dumps(doc))
    return path


def run(args: list, dest: Path):
    "One whole command in a fresh process: (seconds, CPU s of it and its children, its output)"
    t0 = time.time(); before = os.times()
    p = subprocess.run([NACTI_DL, *args, '--dest', str(dest)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout; s = time.time() - t0; after = os.times()
    if p.returncode != 0: raise SystemExit(f'failed ({p.returncode}): {" ".join(args)}\n{out[-2000:]}')
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return s, cpu, out


RSS_PROBE = """
import resource, sys, json
from nacti_dl.cli import main
if __name__ == '__main__':
    out = sys.argv[1]; code = main(sys.argv[2:])
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    open(out, 'w').write(json.dumps(dict(own_mb=own, children_mb=kids)))
"""


def rss_run(args: list, dest: Path, tmp: Path):
    "The command with its peak RSS (own process; the largest of its children) written by a small wrapper"
    probe, out = tmp/'rss_probe.py', tmp/'rss.json'; probe.write_text(RSS_PROBE); out.unlink(missing_ok=True)
    t0 = time.time()
    r = subprocess.run([sys.executable, str(probe), str(out), *args, '--dest', str(dest)], capture_output=True, text=True)
    if not out.exists(): raise SystemExit(f'failed: {r.stdout[-1500:]}{r.stderr[-1500:]}')
    return time.time() - t0, json.loads(out.read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000, help='images to download')
    ap.add_argument('--workers', type=int, default=32)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--latency-ms', type=float, default=30)
    ap.add_argument('--rss-n', default='', help='comma-separated image counts for the peak-RSS runs of the crops command')
    ap.add_argument('--rss-dims', default='640x480', help='frame size of the peak-RSS runs (smaller frames: 100,000 images fit a small disk)')
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='bench_crops-'))
    try:
        if a.rounds: compare(a, tmp)
        if a.rss_n:
            print(f'\n| crops run ({a.rss_dims} frames), images | seconds | peak RSS of the command | peak RSS of a cropping process |')
            print('|---|---|---|---|')
            for n in [int(x) for x in a.rss_n.split(',') if x]:
                with serve(tmp/f'mirror-{n}', n, a.latency_ms, a.workers, tuple(int(v) for v in a.rss_dims.split('x'))) as (srv, common, md):
                    dest = tmp/f'rss-{n}'; s, rss = rss_run(common + ['--crops', '--max-side', '224', '--md-results', str(md)], dest, tmp)
                print(f"| {_images(dest):,} | {s:.0f} | {rss['own_mb']:.0f} MB | {rss['children_mb']:.0f} MB |", flush=True)
                shutil.rmtree(dest); shutil.rmtree(tmp/f'mirror-{n}')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compare(a, tmp: Path):
    "Plain, plain/224 and crops/224, alternating, `a.rounds` times; prints the table"
    with serve(tmp/'mirror', a.n, a.latency_ms, a.workers) as (srv, common, md):
        kinds = {'plain': [], 'plain/224': ['--max-side', '224'], 'crops/224': ['--crops', '--max-side', '224', '--md-results', str(md)]}
        run(common + kinds['crops/224'], tmp/'warm'); shutil.rmtree(tmp/'warm')   # metadata and results cached, page cache warm
        rows = {k: [] for k in kinds}
        for _ in range(a.rounds):
            for k, extra in kinds.items():
                dest = tmp/f'run-{k.replace("/", "-")}'
                s, cpu, out = run(common + extra, dest)
                size, _ = disk_use(dest)
                srcs = _images(dest)
                rows[k].append(dict(s=s, cpu=cpu, images=srcs, ips=srcs / s, disk=size, files=_files(dest)))
                shutil.rmtree(dest)
                print(f'  {k}: {srcs} images in {s:.1f} s, CPU {cpu:.1f} s, {size / 1e6:.1f} MB on disk (load {os.getloadavg()[0]:.1f})', file=sys.stderr)
    print(f'\n{a.n:,} images (2048x1536, ~0.4 MB), {a.workers} workers, TLS mirror in another process ({a.latency_ms:.0f} ms latency), '
          f'{os.cpu_count()} cores, median of {a.rounds} rounds, load average {os.getloadavg()[0]:.1f} at the end\n')
    print('| run | images/s (whole command) | vs plain | seconds | CPU s | files on disk | on disk |')
    print('|---|---|---|---|---|---|---|')
    base = statistics.median(r['ips'] for r in rows['plain'])
    for k, rs in rows.items():
        m = {f: statistics.median(r[f] for r in rs) for f in rs[0]}
        print(f"| {k} | {m['ips']:.1f} | {m['ips'] / base:.2f}x | {m['s']:.1f} | {m['cpu']:.1f} | {m['files']:,.0f} | {m['disk'] / 1e6:.1f} MB |", flush=True)


@contextlib.contextmanager
def serve(root: Path, n: int, latency_ms: float, workers: int = 32, dims: tuple = (2048, 1536)):
    "A TLS mirror of `n` images with MD results for all; yields (server, the download command's common args, results file)"
    t0 = time.time(); meta = make_mirror(root, n, dims=dims); md = md_results(meta, root.parent/f'{root.name}-md_results.json.zip')
    animals = ','.join(r['common_name'] for r in meta.table() if r['count'] and r['common_name'] != 'empty')
    print(f'mirror: {meta.n_images:,} images made in {time.time() - t0:.0f} s; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}', file=sys.stderr)
    with MirrorServer(root, latency_ms=latency_ms, tls=True, process=True) as srv:
        yield srv, ['download', '--classes', animals, '--cap', str(10**9), '--base-url', srv.base_url, '--ca-bundle', str(srv.ca_file),
                    '--cache-dir', str(root.parent/f'{root.name}-cache'), '--workers', str(workers), '--no-progress', '--balance', 'none', '--seed', '0'], md


def _images(dest: Path) -> int:
    "Images the folder holds: its manifest's sources (crops) or rows (frames)"
    import csv
    with open(dest/'manifest.csv', newline='', encoding='utf-8') as f: rows = list(csv.DictReader(f))
    return len({r['source'] or r['path'] for r in rows})


def _files(dest: Path) -> int:
    return sum(1 for p in dest.rglob('*') if p.is_file() and '.nacti_dl' not in p.parts and p.name != 'manifest.csv')


if __name__ == '__main__':
    main()
