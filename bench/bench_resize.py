#!/usr/bin/env python
"""Resize on download: files/s, MB/s and bytes on disk with and without `max_side`, in one run.

A local mirror (nacti_dl.mirror.MirrorServer in its own process, 30 ms first-byte latency) serves a NACTI-shaped
data set of --n images whose files are photo-like JPEGs at NACTI's real size: 2048x1536 (10% of the cameras
2048x1152), ~0.4 MB each (noise over gradients, so decoding costs what a real photo costs, unlike a flat synthetic
picture). The same plan is downloaded into a fresh folder once as originals and once with each --max-side, repeated
--repeat times (interleaved); the table gives the median round of each. Disk use is the sum of the file sizes (and
the allocated blocks) under the folder, the engine's state and the manifest excepted.

    .venv/bin/python bench/bench_resize.py                       # 500 files, max_side 512, ~1 minute on 2 cores
    .venv/bin/python bench/bench_resize.py --n 1000 --max-side 512,1024 --workers 64
"""
import argparse, io, os, random, shutil, statistics, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL import Image, ImageFilter
from nacti_dl.mirror import MirrorServer, make_nacti
from nacti_dl.metadata import load_metadata
from nacti_dl.plan import make_plan
from nacti_dl.download import Downloader


def photo(w, h, seed, target_kb=400):
    "A photo-like JPEG of about `target_kb`: smooth colour gradients with sensor-like noise"
    rng = random.Random(seed)
    grad = Image.linear_gradient('L').resize((w, h)).rotate(rng.choice([0, 90, 180, 270]))
    rgb = Image.merge('RGB', [grad.point(lambda v, a=rng.uniform(.3, 1), b=rng.randint(0, 80): int(v * a + b)) for _ in 'rgb'])
    noise = Image.effect_noise((w, h), 40).filter(ImageFilter.GaussianBlur(0.8))
    img = Image.blend(rgb, Image.merge('RGB', [noise] * 3), 0.35)
    lo, hi, q = 30, 95, 85
    for _ in range(7):  # bisect the quality to land near target_kb
        b = io.BytesIO(); img.save(b, 'JPEG', quality=q); n = len(b.getvalue())
        if abs(n - target_kb * 1024) < target_kb * 100: break
        lo, hi = (q, hi) if n < target_kb * 1024 else (lo, q); q = (lo + hi) // 2
    return b.getvalue()


def make_mirror(root: Path, n: int, distinct: int = 12, dims: tuple = (2048, 1536)):
    "Metadata for `n` images and real JPEG files for them (a few distinct photos per frame size, reused)"
    meta = load_metadata(make_nacti(root, n_images=n, seed=0, jpegs=False, dims=dims), cache=False)
    cache = {}
    for i in range(meta.n_images):
        w, h, fn = int(meta.widths[i]), int(meta.heights[i]), meta.file_name(i)
        k = (w, h, i % distinct)
        if k not in cache: cache[k] = photo(w, h, seed=hash(k) & 0xffff)
        p = root/'nacti-unzipped'/fn; p.parent.mkdir(parents=True, exist_ok=True); p.write_bytes(cache[k])
    return meta


def disk_use(dest: Path):
    "(sum of file sizes, allocated bytes) of the images under dest"
    size = blocks = 0
    for p in dest.rglob('*'):
        if p.is_file() and '.nacti_dl' not in p.parts and p.name != 'manifest.csv':
            st = p.stat(); size += st.st_size; blocks += st.st_blocks * 512
    return size, blocks


def one(items, base, workers, max_side, tmp):
    dest = Path(tempfile.mkdtemp(dir=tmp))
    r = Downloader(dest, base, workers=workers, progress=False, max_side=max_side).run(items)
    assert r.ok, str(r)
    size, blocks = disk_use(dest)
    shutil.rmtree(dest)
    return dict(s=r.seconds, fps=r.fetched / r.seconds, mbps=r.bytes / r.seconds / 1e6, net=r.bytes, disk=size, blocks=blocks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=500, help='files to download')
    ap.add_argument('--max-side', default='512', help='comma-separated max sides to compare with the originals')
    ap.add_argument('--workers', type=int, default=32)
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--latency-ms', type=float, default=30)
    a = ap.parse_args()
    sides = [0] + [int(s) for s in a.max_side.split(',')]
    tmp = Path(tempfile.mkdtemp(prefix='bench_resize-'))
    try:
        t0 = time.time(); meta = make_mirror(tmp/'mirror', a.n)
        items = list(make_plan(meta, 'all', cap=10**7).items())[:a.n]
        sizes = [(tmp/'mirror'/it.url_path).stat().st_size for it in items]
        print(f'mirror: {len(items)} files, mean {statistics.mean(sizes)/1e6:.2f} MB, made in {time.time()-t0:.0f} s; '
              f'{os.cpu_count()} cores, {a.workers} workers, {a.latency_ms:.0f} ms latency\n', file=sys.stderr)
        runs = {s: [] for s in sides}
        with MirrorServer(tmp/'mirror', latency_ms=a.latency_ms, process=True) as srv:
            one(items[:50], srv.base_url, a.workers, 0, tmp)  # warm-up: page cache, imports
            for _ in range(a.repeat):
                for s in sides: runs[s].append(one(items, srv.base_url, a.workers, s, tmp))
        print(f'{len(items)} files, {os.cpu_count()} cores, {a.workers} workers, mirror in another process '
              f'({a.latency_ms:.0f} ms latency), median of {a.repeat} rounds\n')
        print('| max_side | files/s | MB/s (downloaded) | seconds | downloaded | on disk | on disk (blocks) | disk vs originals |')
        print('|---|---|---|---|---|---|---|---|')
        orig = statistics.median(r['disk'] for r in runs[0])
        for s in sides:
            m = {k: statistics.median(r[k] for r in runs[s]) for k in runs[s][0]}
            print(f"| {s or 'original'} | {m['fps']:.0f} | {m['mbps']:.1f} | {m['s']:.2f} | {m['net']/1e6:.1f} MB | "
                  f"{m['disk']/1e6:.1f} MB | {m['blocks']/1e6:.1f} MB | {m['disk']/orig:.1%} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
