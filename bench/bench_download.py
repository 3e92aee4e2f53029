#!/usr/bin/env python
"""Download speed of nacti_dl against what users would use instead, on one machine, in one run.

A local LILA-like mirror (nacti_dl.mirror, TLS, ~30 ms first-byte latency, ~300 KB images) sits behind a delay
proxy (bench/delay_proxy.py: ~20 ms each way on every chunk, ~40 ms more for a new connection's handshake), so a
request round trip costs ~40 ms like a real network. On the same URLs, each tool runs in a fresh subprocess into a
fresh temp folder, at each worker count:

  nacti-dl       the whole `nacti-dl download` command (this project): metadata from the cache, plan, estimate, download
  nacti_dl       nacti_dl.download.download (this project's engine, called from Python with the plan)
  nacti_dl/2proc the same with processes=2: the fetching in two processes, the state in the first
  nacti_dl/dask  the same with dask_client: fetching on a local 2-worker Dask cluster (started before the clock)
  aiohttp        the floor: a bare asyncio+aiohttp loop that only fetches, MD5-hashes and writes 256 KB at a time, inline
                 (no retries, no state)
  aiohttp/chunks the floor as it was until issue #20: the same, but one write per chunk received (~16-64 KB)
  megadetector   megadetector.utils.url_utils.parallel_download_urls (what LILA's own download script uses)
  img2dataset    img2dataset.download(output_format='files', resize_mode='no', disable_all_reencoding=True)
  urllib+pool    the seed notebook's pattern done right: urlretrieve in a ThreadPool, results consumed

Afterwards every output folder is checked (image files on disk, bytes, MD5 against the mirror's files), so a tool
that "finishes" without downloading shows as such. For every run it also measures the CPU-seconds (user + system)
of the tool's whole command (its subprocess and that one's children; not the mirror or the proxy) per GB verified.
`--runs N` repeats everything N times, tools alternating (A B A B), and reports each run and the median.
Prints a markdown table and saves a plot.

    bash bench/setup.sh                                   # once: makes .venv-bench with all the tools
    .venv-bench/bin/python bench/bench_download.py        # ~10 minutes on 2 cores
    .venv-bench/bin/python bench/bench_download.py --n 500 --workers 8,32 --tools nacti_dl,urllib+pool
    .venv-bench/bin/python bench/bench_download.py --workers 32 --tools nacti_dl,aiohttp --runs 3 --plot ''
    BENCH_BASELINE=/path/to/an/older/checkout .venv-bench/bin/python bench/bench_download.py --tools nacti_dl,nacti_dl@baseline
"""
import argparse, hashlib, json, os, re, resource, shutil, signal, statistics, subprocess, sys, tempfile, time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TOOLS = ['nacti-dl', 'nacti_dl', 'nacti_dl/2proc', 'nacti_dl/dask', 'aiohttp', 'aiohttp/chunks', 'megadetector', 'img2dataset',
         'urllib+pool']   # and 'nacti_dl@baseline', 'nacti-dl@baseline' (BENCH_BASELINE)
IMG_EXTS = {'.jpg', '.jpeg'}
N_CORES = len(os.sched_getaffinity(0))
PIN = N_CORES >= 2 and os.environ.get('BENCH_NO_PIN') != '1'
SERVER_CPUS = {0} if PIN else None                     # mirror + proxy: core 0; tool under test: the others
CLIENT_CPUS = set(range(1, N_CORES)) if PIN else None


# ---------------------------------------------------------------- the tools (run inside a fresh subprocess)

def run_nacti_dl(job, **kw):
    from nacti_dl.download import download
    from nacti_dl.plan import PlanItem
    items = [PlanItem(*it) for it in job['items']]  # the plan's rows, as make_plan made them in the parent
    rep = download(items, job['dest'], job['base_url'], workers=job['workers'], ca_bundle=job['ca'], progress=False, **kw)
    return ' '.join(str(rep).split())

def run_nacti_dl_cli(job):
    "The whole `nacti-dl download` command, as a user runs it (in this fresh process): metadata (cached), plan, estimate, download"
    from nacti_dl.cli import main
    argv = ['download', '--classes', 'all', '--cap', str(len(job['items'])), '--dest', job['dest'], '--base-url', job['base_url'],
            '--ca-bundle', job['ca'], '--cache-dir', job['cache'], '--workers', str(job['workers']), '--no-progress']
    try: rc = main(argv)
    except SystemExit as e: rc = e.code
    if rc: raise RuntimeError(f'nacti-dl download exited {rc}')
    return f"nacti-dl download exited {rc}"

def setup_dask(job):
    "A local Dask cluster of 2 worker processes (4 threads each) for `nacti_dl/dask`: started before the clock"
    import dask
    from distributed import Client, LocalCluster
    dask.config.set({'temporary-directory': job['dest'] + '-dask'})   # its scratch space too, not the system temp folder
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=4, host='127.0.0.1', dashboard_address=None,
                           local_directory=job['dest'] + '-dask')
    return dict(dask_client=Client(cluster))

def teardown(kw):
    if (client := kw.get('dask_client')) is not None: cluster = client.cluster; client.close(); cluster.close()

SETUPS = {'nacti_dl/2proc': lambda job: dict(processes=2), 'nacti_dl/dask': setup_dask}   # each runs before the clock

def baseline(run):
    "`run` with another checkout of nacti_dl (`BENCH_BASELINE`: a folder holding its `nacti_dl` package)"
    def run_baseline(job):
        sys.path.insert(0, os.environ['BENCH_BASELINE'])
        import nacti_dl; assert Path(nacti_dl.__file__).is_relative_to(os.environ['BENCH_BASELINE']), nacti_dl.__file__
        return run(job)
    return run_baseline

def run_megadetector(job):
    from megadetector.utils.url_utils import parallel_download_urls
    targets = {u: os.path.join(job['dest'], r) for u, r in zip(job['urls'], job['rels'])}
    res = parallel_download_urls(targets, verbose=False, n_workers=job['workers'], pool_type='thread')
    bad = [r for r in res if r['status'] != 'success']
    return f"{len(res) - len(bad)} success, {len(bad)} not" + (f": {bad[0]['status'][:200]}" if bad else '')

def run_img2dataset(job):
    os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')  # no update check over the network
    from img2dataset import download
    url_list = Path(job['dest']).parent / (Path(job['dest']).name + '-urls.txt')
    url_list.write_text('\n'.join(job['urls']) + '\n')
    download(url_list=str(url_list), output_folder=job['dest'], output_format='files', input_format='txt',
             resize_mode='no', disable_all_reencoding=True, processes_count=1, thread_count=job['workers'],
             timeout=30, retries=0, number_sample_per_shard=100_000)
    stats = sorted(Path(job['dest']).glob('*_stats.json'))
    if not stats: return 'no stats file written'
    s = json.loads(stats[0].read_text())
    own = s['successes'] / max(s['end_time'] - s['start_time'], 1e-9)  # its worker's own timer, without start-up
    return f"successes {s['successes']}, failed_to_download {s['failed_to_download']}; {own:.0f} files/s by its own timer"

def run_urllib_pool(job):
    import urllib.request
    from multiprocessing.pool import ThreadPool
    def fetch(ur):
        url, rel = ur
        dest = os.path.join(job['dest'], rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        urllib.request.urlretrieve(url, dest)
        return os.path.getsize(dest)
    with ThreadPool(job['workers']) as pool:
        sizes = list(pool.imap_unordered(fetch, zip(job['urls'], job['rels'])))  # consumed: the work happens
    return f"{len(sizes)} files, {sum(sizes)} bytes"

WRITE_SIZE = 256 << 10   # the floor writes this much at a time, inline in the loop (a page-cache write: tens of µs)

def run_aiohttp(job, write_size=WRITE_SIZE):
    """The floor: one ClientSession, `workers` fetchers that stream each body, MD5-hash it and write it `write_size`
    bytes at a time (0: each chunk as it comes), inline in the event loop; nothing else"""
    import asyncio, ssl, aiohttp
    try: import uvloop; new_loop = uvloop.new_event_loop  # the loop nacti_dl's engine uses when uvloop is installed
    except ImportError: new_loop = asyncio.new_event_loop
    todo = iter(zip(job['urls'], job['rels']))  # shared by the fetchers: each takes the next URL
    for d in {os.path.dirname(os.path.join(job['dest'], r)) for r in job['rels']}: os.makedirs(d, exist_ok=True)
    async def fetcher(s, md5s):
        for url, rel in todo:
            h = hashlib.md5()
            async with s.get(url) as r:
                r.raise_for_status()
                with open(os.path.join(job['dest'], rel), 'wb') as f:
                    buf = bytearray()
                    async for chunk in r.content.iter_any():
                        h.update(chunk)
                        if not write_size: f.write(chunk); continue
                        buf += chunk
                        if len(buf) >= write_size: f.write(buf); buf.clear()
                    if buf: f.write(buf)
            md5s.append(h.hexdigest())
    async def main():
        conn = aiohttp.TCPConnector(limit=job['workers'], ssl=ssl.create_default_context(cafile=job['ca']))
        async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as s:
            md5s = []
            await asyncio.gather(*[fetcher(s, md5s) for _ in range(job['workers'])])
            return md5s
    with asyncio.Runner(loop_factory=new_loop) as runner: md5s = runner.run(main())
    return f"{len(md5s)} files, {len(set(md5s))} distinct MD5s; loop {new_loop.__module__}"

RUNNERS = {'nacti-dl': run_nacti_dl_cli, 'nacti_dl': run_nacti_dl, 'aiohttp': run_aiohttp,
           'aiohttp/chunks': lambda job: run_aiohttp(job, write_size=0), 'megadetector': run_megadetector, 'img2dataset': run_img2dataset,
           'urllib+pool': run_urllib_pool, 'nacti_dl@baseline': baseline(run_nacti_dl), 'nacti-dl@baseline': baseline(run_nacti_dl_cli),
           'nacti_dl/2proc': run_nacti_dl, 'nacti_dl/dask': run_nacti_dl}

def _slug(tool:str)->str: return re.sub(r'[^\w@.-]', '_', tool)   # a tool's name in file names

def child_main(job_file):
    "Run one tool once; print one JSON line with the wall time of the download call."
    job = json.loads(Path(job_file).read_text())
    if CLIENT_CPUS: os.sched_setaffinity(0, CLIENT_CPUS)
    kw = SETUPS[job['tool']](job) if job['tool'] in SETUPS else {}
    t0, cpu0 = time.perf_counter(), own_cpu()
    try: msg, err = RUNNERS[job['tool']](job, **kw), None
    except BaseException as e: msg, err = None, f"{type(e).__name__}: {e}"[:500]
    secs, call_cpu = time.perf_counter() - t0, own_cpu() - cpu0
    teardown(kw); shutil.rmtree(job['dest'] + '-dask', ignore_errors=True)
    print('RESULT ' + json.dumps(dict(seconds=secs, call_cpu=call_cpu, message=msg, error=err)), flush=True)

def own_cpu(who=resource.RUSAGE_SELF):
    "User+system CPU seconds of this process (RUSAGE_SELF, all its threads) or of its waited-for children"
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------- servers (each in its own process)

def _start(cmd, pattern, cpus=None, timeout=120, log=None):
    "Start a server process; wait for a line matching `pattern`; return (proc, match)."
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True,
                            start_new_session=True)
    if cpus: os.sched_setaffinity(proc.pid, cpus)
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None: raise RuntimeError(f"{cmd[:3]} exited with {proc.returncode}")
            continue
        if m := re.search(pattern, line): return proc, m
    _stop(proc); raise RuntimeError(f"{cmd[:3]}: no line matching {pattern!r} within {timeout}s")

def _stop(proc):
    if proc is None or proc.poll() is not None: return
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: return
    try: proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()

MIRROR_SNIPPET = """
import signal, sys
from nacti_dl.mirror import MirrorServer
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait below (threads inherit it)
srv = MirrorServer(sys.argv[1], latency_ms=float(sys.argv[2]), tls=True, image_kb=float(sys.argv[3])).start()
print('MIRROR', srv.base_url, srv.ca_file, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
srv.stop()
"""

def start_mirror(root, latency_ms, image_kb, log):
    cmd = [sys.executable, '-c', MIRROR_SNIPPET, str(root), str(latency_ms), str(image_kb)]
    proc, m = _start(cmd, r'(https://127\.0\.0\.1:\d+)\S*\s+(\S+\.pem)', SERVER_CPUS, log=log)
    return proc, m[1], m[2]

def start_proxy(upstream, one_way_ms, connect_ms, log):
    cmd = [sys.executable, str(HERE / 'delay_proxy.py'), '--upstream', upstream,
           '--one-way-ms', str(one_way_ms), '--connect-ms', str(connect_ms)]
    proc, m = _start(cmd, r'PROXY (127\.0\.0\.1:\d+)', SERVER_CPUS, log=log)
    return proc, m[1]


# ---------------------------------------------------------------- data, sanity check, verification

def make_plan_items(root, n, seed):
    "A synthetic NACTI of `n` images (metadata only: the mirror makes the JPEGs), planned whole: the PlanItems."
    from nacti_dl.mirror import make_nacti
    from nacti_dl.metadata import load_metadata
    from nacti_dl.plan import make_plan
    meta = load_metadata(make_nacti(root, n_images=n, seed=seed, jpegs=False), cache=False)
    return list(make_plan(meta, 'all', cap=n, seed=seed).items())

def expected_md5s(base_url, rels, ca, workers=32):
    "{md5: file} and {file: size} as the mirror serves them (HEAD, straight to the mirror: x-goog-hash, length)."
    from concurrent.futures import ThreadPoolExecutor
    from nacti_dl.lila import head, http_pool, image_url
    pool = http_pool(ca_bundle=ca, maxsize=workers)
    with ThreadPoolExecutor(workers) as ex: heads = list(ex.map(lambda r: head(image_url(base_url, r), pool), rels))
    if bad := [(r, h) for r, h in zip(rels, heads) if h['status'] != 200 or not h['md5']]:
        raise RuntimeError(f"mirror: {len(bad)} files without 200 + MD5, e.g. {bad[0]}")
    return {h['md5']: r for r, h in zip(rels, heads)}, {r: h['size'] for r, h in zip(rels, heads)}

def sanity_check(proxy_addr, rel, ca, n, rtt_ms, latency_ms):
    "Sequential requests on one connection through the proxy must take ~rtt+latency each."
    import http.client, ssl
    host, port = proxy_addr.split(':')
    t0 = time.perf_counter()
    conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca), timeout=30)
    conn.connect()
    t1 = time.perf_counter()
    for _ in range(n):
        conn.request('HEAD', f"/nacti-unzipped/{quote(rel)}"); conn.getresponse().read()
    t2 = time.perf_counter()
    conn.close()
    per = (t2 - t1) / n * 1000
    print(f"proxy sanity check: TCP+TLS connect {1000 * (t1 - t0):.0f} ms (expect ~{2 * rtt_ms:.0f}); "
          f"{n} sequential HEADs on one connection: {per:.1f} ms each (expect ~{rtt_ms + latency_ms:.0f})", flush=True)
    return per

def warm_metadata_cache(base_url, ca, cache):
    "Fetch and parse the metadata once, outside the clock: the measured `nacti-dl download` runs find it cached, as a user's do"
    subprocess.run([sys.executable, '-c', 'import sys; from nacti_dl.cli import main; sys.exit(main(sys.argv[1:]))', 'categories',
                    '--base-url', base_url, '--ca-bundle', ca, '--cache-dir', str(cache)], check=True, stdout=subprocess.DEVNULL)

def verify(dest, md5s):
    "Image files on disk under dest, their bytes, how many distinct expected files arrived intact and their bytes."
    n_files = n_bytes = ok_bytes = 0; found = set()
    for dirpath, _, files in os.walk(dest):
        for f in files:
            if os.path.splitext(f)[1].lower() not in IMG_EXTS: continue
            p = os.path.join(dirpath, f)
            n_files += 1; n_bytes += os.path.getsize(p)
            with open(p, 'rb') as fh: h = hashlib.file_digest(fh, 'md5').hexdigest()
            if h in md5s and h not in found: found.add(h); ok_bytes += os.path.getsize(p)
    return n_files, n_bytes, len(found), ok_bytes


# ---------------------------------------------------------------- one measured run

def cpu_seconds(procs):
    "User+system CPU seconds of the server processes (and their children)."
    import psutil
    tot = 0.
    for p in procs:
        try:
            ps = psutil.Process(p.pid)
            for q in [ps] + ps.children(recursive=True):
                t = q.cpu_times(); tot += t.user + t.system
        except psutil.Error: pass
    return tot

def busy_seconds():
    "CPU seconds all processes on the machine have used (to see how much others used during a run)."
    import psutil
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, 'irq', 0) + getattr(t, 'softirq', 0) + getattr(t, 'steal', 0)

def wait_quiet(max_wait, threshold=0.3):
    "On a shared machine, wait (at most max_wait s) until other processes use < threshold of a core; their use."
    t_end = time.monotonic() + max_wait
    while True:
        b0 = busy_seconds(); time.sleep(1); used = busy_seconds() - b0
        if used < threshold or time.monotonic() > t_end: return used

def run_one(tool, workers, items, urls, rels, base_url, ca, md5s, work, timeout, servers, logdir, run=1):
    dest = Path(tempfile.mkdtemp(prefix=f"{_slug(tool)}-{workers}-", dir=work))
    job = dict(tool=tool, workers=workers, items=items, urls=urls, rels=rels, base_url=base_url, ca=ca, dest=str(dest),
               cache=str(work / 'cache'))
    job_file = dest.with_suffix('.json'); job_file.write_text(json.dumps(job, default=int))  # numpy ints in PlanItems
    env = dict(os.environ, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca, NO_ALBUMENTATIONS_UPDATE='1',
               PYTHONUNBUFFERED='1')
    log = logdir / f"{_slug(tool)}-{workers}-run{run}.log"
    cpu0, busy0, ru0 = cpu_seconds(servers), busy_seconds(), own_cpu(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, 'w') as lf:
        proc = subprocess.Popen([sys.executable, __file__, '--child', str(job_file)], stdout=subprocess.PIPE,
                                stderr=lf, text=True, env=env, start_new_session=True)
        try: out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); out, _ = proc.communicate()
            out += 'RESULT ' + json.dumps(dict(seconds=timeout, call_cpu=None, message=None, error=f'timed out after {timeout}s'))
        lf.write(out)
    wall = time.perf_counter() - t0
    srv_cpu = (cpu_seconds(servers) - cpu0) / wall
    tool_cpu = own_cpu(resource.RUSAGE_CHILDREN) - ru0  # the whole command: the child, reaped, and its reaped children
    client_cpu = tool_cpu / wall
    others_cpu = max(0., (busy_seconds() - busy0) / wall - srv_cpu - client_cpu)  # cores used by other processes
    res = [json.loads(l[7:]) for l in out.splitlines() if l.startswith('RESULT ')]
    r = res[-1] if res else dict(seconds=wall, call_cpu=None, message=None, error=f'exit {proc.returncode}, no result (see {log})')
    n_files, n_bytes, n_ok, ok_bytes = verify(dest, md5s)
    shutil.rmtree(dest, ignore_errors=True); job_file.unlink(missing_ok=True)
    for f in dest.parent.glob(dest.name + '*'): f.unlink(missing_ok=True)
    gb = ok_bytes / 1e9
    return dict(tool=tool, workers=workers, run=run, seconds=r['seconds'], message=r['message'], error=r['error'],
                n_files=n_files, n_bytes=n_bytes, verified=n_ok, verified_bytes=ok_bytes,
                server_cpu=srv_cpu, client_cpu=client_cpu, others_cpu=others_cpu, tool_cpu_s=tool_cpu,
                cpu_per_gb=tool_cpu / gb if gb else None,
                call_cpu_per_gb=r['call_cpu'] / gb if gb and r.get('call_cpu') is not None else None)


# ---------------------------------------------------------------- report

def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def _fmt(x, spec='.1f'): return '-' if x is None else format(x, spec)

def summarize(rows, mean_bytes):
    "One row per (workers, tool), in run order: the medians over its runs, and each run's files/s and CPU-s/GB."
    out = []
    for key in dict.fromkeys((r['workers'], r['tool']) for r in rows):
        rs = [r for r in rows if (r['workers'], r['tool']) == key]
        fps = [r['verified'] / r['seconds'] if r['seconds'] else 0 for r in rs]
        out.append(dict(workers=key[0], tool=key[1], runs=len(rs), fps=_med(fps), mbs=_med(fps) * mean_bytes / 1e6,
                        cpu_per_gb=_med([r['cpu_per_gb'] for r in rs]), call_cpu_per_gb=_med([r['call_cpu_per_gb'] for r in rs]),
                        per_run=[(f, r['cpu_per_gb']) for f, r in zip(fps, rs)], verified=sorted({r['verified'] for r in rs}),
                        rows=rs))
    for s in out:  # CPU against the floor (the bare aiohttp loop) at the same worker count
        floor = next((f['cpu_per_gb'] for f in out if f['tool'] == 'aiohttp' and f['workers'] == s['workers']), None)
        s['x_floor'] = s['cpu_per_gb'] / floor if floor and s['cpu_per_gb'] is not None else None
    return out

def _note(rs, n):
    note = []
    for r in rs:
        if r['error']: note.append(r['error'])
        if r['n_files'] != r['verified']: note.append(f"run {r['run']}: {r['n_files']} image files on disk, {r['n_bytes'] / 1e6:.0f} MB")
    if max(r['server_cpu'] for r in rs) > 0.9: note.append(f"(mirror+proxy core up to {100 * max(r['server_cpu'] for r in rs):.0f}% busy)")
    if (o := max(r['others_cpu'] for r in rs)) > 0.15: note.append(f"(machine shared: other processes used up to {100 * o:.0f}% of a core)")
    return ' '.join(dict.fromkeys(note))

def table(summary, ideal, n, mean_bytes):
    many, floor = any(s['runs'] > 1 for s in summary), any(s['tool'] == 'aiohttp' for s in summary)
    head = ['tool', 'workers', 'files/s', 'MB/s', '% of ideal', 'CPU-s/GB'] + ['x floor'] * floor + \
           ['runs: files/s, CPU-s/GB'] * many + ['files verified', 'note']
    out = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 2) + '---|']
    for w in dict.fromkeys(s['workers'] for s in summary):
        for s in [s for s in summary if s['workers'] == w]:
            cells = [s['tool'], str(w), f"{s['fps']:.0f}", f"{s['mbs']:.1f}", f"{100 * s['fps'] / ideal(w):.0f}%", _fmt(s['cpu_per_gb'])]
            if floor: cells.append(_fmt(s['x_floor'], '.2f') + ('x' if s['x_floor'] is not None else ''))
            if many: cells.append('; '.join(f"{f:.0f}, {_fmt(c)}" for f, c in s['per_run']))
            cells += ['-'.join(map(str, s['verified'])) + f"/{n}", _note(s['rows'], n)]
            out.append('| ' + ' | '.join(cells) + ' |')
        blank = [''] * (floor + many)
        out.append('| ' + ' | '.join(['*ideal*', str(w), f"{ideal(w):.0f}", f"{ideal(w) * mean_bytes / 1e6:.1f}", '100%', ''] + blank + ['', '']) + ' |')
    return '\n'.join(out)

def plot(summary, ideal, path, title):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ws = sorted({s['workers'] for s in summary})
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for tool in dict.fromkeys(s['tool'] for s in summary):
        pts = sorted((s['workers'], s['fps']) for s in summary if s['tool'] == tool)
        ax.plot(*zip(*pts), marker='o', lw=2.5 if tool == 'nacti_dl' else 1.5, label=tool)
    ax.plot(ws, [ideal(w) for w in ws], 'k--', lw=1, label='ideal: workers / (RTT + latency)')
    ax.set(xscale='log', yscale='log', xlabel='workers', ylabel='verified files/s', title=title)
    from matplotlib.ticker import NullLocator, ScalarFormatter
    ax.xaxis.set_minor_locator(NullLocator()); ax.set_xticks(ws, [str(w) for w in ws])
    ax.yaxis.set_minor_locator(NullLocator())
    lo, hi = ax.get_ylim(); ax.set_yticks([t for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if lo <= t <= hi])
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.grid(True, which='both', alpha=.3); ax.legend(fontsize=8)
    fig.tight_layout(); Path(path).parent.mkdir(parents=True, exist_ok=True); fig.savefig(path); plt.close(fig)


# ---------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='\n'.join(__doc__.splitlines()[1:]))
    p.add_argument('--n', type=int, default=2000, help='number of images (URLs)')
    p.add_argument('--workers', default='8,32,128')
    p.add_argument('--tools', default=','.join(TOOLS))
    p.add_argument('--latency-ms', type=float, default=30, help="mirror's first-byte latency")
    p.add_argument('--rtt-ms', type=float, default=40, help='network round trip added by the proxy')
    p.add_argument('--image-kb', type=int, default=300)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--timeout', type=float, default=300, help='seconds allowed for one tool run')
    p.add_argument('--quiet-wait', type=float, default=30,
                   help='before each run, wait up to this many seconds for other processes to leave the CPUs idle')
    p.add_argument('--runs', type=int, default=1, help='repeat every measurement N times, tools alternating (A B A B)')
    p.add_argument('--plot', default=str(REPO / 'docs' / 'bench_download.png'), help="the plot's file ('' for none)")
    p.add_argument('--work', default=None, help='folder for data and downloads (default: a temp folder)')
    p.add_argument('--no-pin', action='store_true', help='let the OS place mirror, proxy and tools on any core')
    p.add_argument('--child', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child: return child_main(a.child)
    if a.no_pin:
        global SERVER_CPUS, CLIENT_CPUS
        SERVER_CPUS = CLIENT_CPUS = None; os.environ['BENCH_NO_PIN'] = '1'  # children read it too

    tools, workers = a.tools.split(','), [int(w) for w in a.workers.split(',')]
    if unknown := set(tools) - set(TOOLS) - {'nacti_dl@baseline', 'nacti-dl@baseline'}: p.error(f"unknown tools {unknown}; choose from {TOOLS}")
    if {'nacti_dl@baseline', 'nacti-dl@baseline'} & set(tools) and not os.environ.get('BENCH_BASELINE'):
        p.error("nacti_dl@baseline and nacti-dl@baseline need BENCH_BASELINE=<a checkout of another nacti_dl version>, e.g. a git worktree")
    work = Path(a.work or tempfile.mkdtemp(prefix='nacti-bench-')); work.mkdir(parents=True, exist_ok=True)
    logdir = HERE / 'out'; logdir.mkdir(exist_ok=True)
    from nacti_dl.lila import image_url
    mirror = proxy = None
    t_start = time.perf_counter()
    try:
        root = work / 'mirror'
        print(f"making a {a.n}-image synthetic NACTI in {root} and planning all of it ...", flush=True)
        items = make_plan_items(root, a.n, a.seed)
        rels = [it.file_name for it in items]
        assert [it.path for it in items] == rels  # layout 'lila': every tool writes dest/<file_name>
        mirror, mirror_url, ca = start_mirror(root, a.latency_ms, a.image_kb, open(logdir / 'mirror.log', 'w'))
        md5s, sizes = expected_md5s(mirror_url, rels, ca)
        if len(md5s) != len(rels): print(f"warning: only {len(md5s)} distinct MD5s for {len(rels)} files")
        mean_bytes = sum(sizes.values()) / len(sizes)
        upstream = mirror_url.split('//', 1)[1]
        proxy, proxy_addr = start_proxy(upstream, a.rtt_ms / 2, a.rtt_ms, open(logdir / 'proxy.log', 'w'))
        base_url = f"https://{proxy_addr}"
        urls = [image_url(base_url, r) for r in rels]
        print(f"mirror {mirror_url} (latency {a.latency_ms:.0f} ms) behind delay proxy {base_url} "
              f"(RTT {a.rtt_ms:.0f} ms); {len(urls)} URLs, mean {mean_bytes / 1e3:.0f} KB; "
              f"servers on CPUs {SERVER_CPUS}, tools on CPUs {CLIENT_CPUS}", flush=True)
        sanity_check(proxy_addr, rels[0], ca, 20, a.rtt_ms, a.latency_ms)
        if {'nacti-dl', 'nacti-dl@baseline'} & set(tools): warm_metadata_cache(base_url, ca, work / 'cache')
        ideal = lambda w: w / ((a.rtt_ms + a.latency_ms) / 1000)
        rows = []
        for run in range(1, a.runs + 1):
            for w in workers:
                for tool in tools:   # alternating, so a drift in the machine's load hits every tool alike
                    if a.quiet_wait and (busy := wait_quiet(a.quiet_wait)) > 0.3:
                        print(f"  (machine busy: other processes use {100 * busy:.0f}% of a core; measuring anyway)")
                    r = run_one(tool, w, items, urls, rels, base_url, ca, md5s, work, a.timeout, [mirror, proxy], logdir, run)
                    rows.append(r)
                    fps = r['verified'] / r['seconds'] if r['seconds'] else 0
                    print(f"  run {run} {tool:13} {w:4} workers: {r['seconds']:6.1f} s, {fps:6.0f} files/s, "
                          f"{r['verified']}/{len(urls)} verified, {r['n_files']} files on disk; "
                          f"CPU-s/GB {_fmt(r['cpu_per_gb'])} (whole command; {_fmt(r['call_cpu_per_gb'])} in the call); "
                          f"CPU: tool {100 * r['client_cpu']:.0f}%, mirror+proxy {100 * r['server_cpu']:.0f}%, "
                          f"other processes {100 * r['others_cpu']:.0f}%; {r['error'] or r['message']}", flush=True)
        title = (f"{len(urls)} files of ~{mean_bytes / 1e3:.0f} KB over TLS, RTT {a.rtt_ms:.0f} ms + "
                 f"{a.latency_ms:.0f} ms latency, {N_CORES} cores")
        print(f"\n### Download speed: {title}\n")
        summary = summarize(rows, mean_bytes)
        print(table(summary, ideal, len(urls), mean_bytes))
        if a.runs > 1: print(f"\nfiles/s, MB/s and CPU-s/GB: medians of {a.runs} runs")
        print("CPU-s/GB: user+system CPU seconds of the tool's whole command (its process and children, start-up "
              "included; not the mirror or the proxy) per GB of verified files" +
              ("; x floor: that over the bare aiohttp loop's" if any(s['tool'] == 'aiohttp' for s in summary) else ''))
        if a.plot: plot(summary, ideal, a.plot, title)
        for s in summary: s.pop('rows')
        (logdir / 'bench_download.json').write_text(json.dumps(dict(title=title, rows=rows, summary=summary), indent=1))
        print(f"\nplot: {a.plot or 'none'}; raw results and logs: {logdir}; total {time.perf_counter() - t_start:.0f} s")
    finally:
        _stop(proxy); _stop(mirror)
        if not a.work: shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__': main()
