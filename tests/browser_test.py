#!/usr/bin/env python
"""Real-browser test of the downloader app.

Starts a local demo mirror, serves `tests/app.ipynb` (the app on that mirror) with Voila, drives Debian's
Chromium through Playwright: picks two classes,
presses Download, waits for the report, checks the files and the manifest, saves a screenshot (docs/app.png).
Everything listens on 127.0.0.1. Without Chromium (or Voila/Playwright) it prints that it skipped and exits 0.

    python tests/browser_test.py [--screenshot docs/app.png] [--chromium /usr/bin/chromium]
"""
import argparse, csv, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from urllib.parse import urlparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync',
                 # loopback only: no name resolves except localhost (Voila's page asks a CDN for a font stylesheet)
                 '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1']
CLASSES = ('moose', 'empty')

def skip(why:str):
    print(f"browser test SKIPPED: {why}"); sys.exit(0)

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_http(url:str, proc, timeout:float=120):
    "Wait until `url` answers (Voila is up), failing early if `proc` died"
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: raise RuntimeError(f"voila exited with {proc.returncode}")
        try: urllib.request.urlopen(url, timeout=5).close(); return
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"voila did not answer at {url}")

def start_voila(nb:Path, port:int, env:dict, log):
    cmd = [sys.executable, '-m', 'voila', str(nb), '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1',
           '--show_tracebacks=True', '--VoilaExecutor.timeout=300', '--Voila.port_retries=0']
    return subprocess.Popen(cmd, cwd=nb.parent, env=env, stdout=log, stderr=subprocess.STDOUT)

def loopback_only(route):
    "Let requests to 127.0.0.1 through, abort any other (the page's CDN stylesheet links)"
    host = urlparse(route.request.url).hostname
    if host in ('127.0.0.1', 'localhost'): route.continue_()
    else: route.abort()

def option_values(page, startswith):
    "The picker's <option> values (labels like 'moose (31)') for each class name"
    vals = page.eval_on_selector_all('.nacti-app select option', 'os => os.map(o => o.value)')
    return [next(v for v in vals if v.startswith(name + ' (')) for name in startswith]

def drive(page, url:str, shot:Path, timeout_ms:int=180_000):
    "Pick two classes, set a cap, download, wait for the report, take the screenshot"
    page.goto(url, timeout=timeout_ms)
    page.wait_for_selector('.nacti-app select option', timeout=timeout_ms)  # metadata loaded, picker filled
    page.select_option('.nacti-app select', option_values(page, CLASSES))
    cap = page.locator('.nacti-app .widget-inline-hbox:has(label:text-is("cap per class")) input')
    cap.fill('20'); cap.press('Enter')
    page.wait_for_selector('.nacti-est td:text-is("moose")', timeout=timeout_ms)  # the live estimate
    page.click('.nacti-app button:has-text("show samples")')
    page.wait_for_selector('.nacti-app .widget-gridbox img', timeout=timeout_ms)
    page.click('.nacti-app button:has-text("Download")')
    page.wait_for_selector('.nacti-app pre', timeout=timeout_ms)  # the report
    page.wait_for_timeout(500)  # let the last widget updates paint
    shot.parent.mkdir(parents=True, exist_ok=True)
    # Voila scrolls inside its own container, so a full-page shot would clip the app: make the window fit it
    height = page.eval_on_selector('.nacti-app', 'e => e.scrollHeight')
    page.set_viewport_size({'width': 1100, 'height': height + 60})
    page.wait_for_timeout(300)
    page.locator('.nacti-app').screenshot(path=str(shot))
    return page.inner_text('.nacti-app pre'), page.inner_text('.nacti-app')

def check_files(dest:Path):
    "The manifest lists only the two classes, at most 20 each, and every file is there"
    rows = list(csv.DictReader(open(dest/'manifest.csv')))
    names = {r['common_name'] for r in rows}
    assert names == set(CLASSES), names
    assert all(sum(r['common_name'] == c for r in rows) <= 20 for c in CLASSES)
    missing = [r['path'] for r in rows if not (dest/r['path']).is_file()]
    assert not missing, missing[:5]
    return len(rows)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--chromium', default='/usr/bin/chromium')
    ap.add_argument('--screenshot', default=str(REPO/'docs'/'app.png'))
    args = ap.parse_args()
    if not Path(args.chromium).exists(): skip(f"no Chromium at {args.chromium} (apt-get install chromium)")
    try: import voila, playwright.sync_api  # noqa: F401
    except ImportError as e: skip(f"{e.name} is not installed (pip install -e '.[browser]')")
    from playwright.sync_api import sync_playwright

    from nacti_dl.mirror import make_nacti, MirrorServer
    tmp = Path(tempfile.mkdtemp(prefix='nacti_browser_'))
    dest, port = tmp/'dest', free_port()
    make_nacti(tmp/'mirror', n_images=2000, seed=0)
    mirror = MirrorServer(tmp/'mirror', latency_ms=10).start()
    env = dict(os.environ, NACTI_DL_DEST=str(dest), NACTI_DL_CACHE=str(tmp/'cache'), NACTI_DL_BASE_URL=mirror.base_url,
               NACTI_DL_CA_BUNDLE=mirror.ca_file or '', NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost')
    env.pop('IN_TEST', None)
    log = open(tmp/'voila.log', 'w')
    voila = start_voila(REPO/'tests'/'app.ipynb', port, env, log)
    try:
        url = f'http://127.0.0.1:{port}/'
        wait_http(url, voila)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={'width': 1100, 'height': 900})
            page.route('**/*', loopback_only)
            page.on('pageerror', lambda e: print('page error:', e))
            try: report, text = drive(page, url, Path(args.screenshot))
            except Exception:
                page.screenshot(path=str(tmp/'failure.png'), full_page=True)
                print(f"failed; screenshot {tmp/'failure.png'}, Voila log {tmp/'voila.log'}"); raise
            finally: browser.close()
        n = check_files(dest)
        assert '⚠' not in text.split('Classes')[0], text[:500]  # no error message in the app
        print(report)
        print(f"browser test PASSED: {n} files in {dest}; screenshot {args.screenshot}")
    finally:
        voila.terminate()
        try: voila.wait(20)
        except subprocess.TimeoutExpired: voila.kill()
        log.close(); mirror.stop()
    shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': main()
