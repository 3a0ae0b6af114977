#!/usr/bin/env node
// A user's way through JupyterHub in headless Chromium: log in on the hub's
// login page, read the profiles of the hub's spawn form, choose one, Start,
// wait through the progress page into JupyterLab, open the desktop from the
// launcher's "Desktop" tile, write a file into the home directory, and stop
// the server from the hub's home page. The caller (test/e2e) checks what
// the browser cannot see (the pod, the X server, processes, the volume).
//
//   KUBEDESK_HUB_URL=http://127.0.0.1:8000 KUBEDESK_HUB_USER=alice \
//   KUBEDESK_HUB_PASSWORD=… KUBEDESK_PROFILE=large node test/browser/hub-session.mjs
//
// Settings (environment):
//   KUBEDESK_RUNS          start/stop cycles (default 1); the desktop, the file
//                          and the pause happen in the first
//   KUBEDESK_DESKTOP       1 (default): open the desktop; 0: only JupyterLab
//   KUBEDESK_FILE          NAME=CONTENT: write it into the home through the
//                          server's contents API
//   KUBEDESK_PAUSE         1: after the desktop, print {"event":"paused"} and
//                          wait for a line on stdin before stopping
//   KUBEDESK_ARTIFACTS     folder of the screenshots (test/artifacts)
//
// Output: one JSON object per line, {"event": …}; the last is "done" (exit 0)
// or "error" (exit 1, with a screenshot <artifacts>/hub-session-failed.png).
import { createInterface } from 'node:readline';
import {
  launch,
  hubLogin,
  spawnFormProfiles,
  startFromSpawnForm,
  openDesktopFromLauncher,
  waitForPaintedDesktop,
  writeFileThroughServer,
  stopFromHubHome,
  screenshot,
} from './kubedesk.mjs';

const env = process.env;
const hub = env.KUBEDESK_HUB_URL;
const user = env.KUBEDESK_HUB_USER;
if (!hub || !user) {
  console.error('hub-session.mjs: set KUBEDESK_HUB_URL and KUBEDESK_HUB_USER');
  process.exit(2);
}
const password = env.KUBEDESK_HUB_PASSWORD ?? '';
const profile = env.KUBEDESK_PROFILE || '';
const runs = Number(env.KUBEDESK_RUNS || 1);
const wantDesktop = (env.KUBEDESK_DESKTOP ?? '1') !== '0';
const artifacts = env.KUBEDESK_ARTIFACTS || 'test/artifacts';
const emit = (event, data = {}) => console.log(JSON.stringify({ event, at: Date.now(), ...data }));

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
const waitForLine = async () => (await lines.next()).value;

const { browser, page } = await launch();
let current = page;
try {
  await hubLogin(page, hub, { user, password });
  emit('logged-in', { url: page.url() });
  for (let run = 0; run < runs; run++) {
    const profiles = await spawnFormProfiles(page, hub);
    emit('profiles', { run, profiles });
    const chosen = profile || profiles.find((p) => p.checked)?.value || profiles[0]?.value;
    const started = await startFromSpawnForm(page, chosen);
    emit('started', { run, profile: chosen, ...started });
    await screenshot(page, `${artifacts}/hub-jupyterlab.png`);
    const base = started.url.replace(/\/lab.*$/, '/');
    if (run === 0 && wantDesktop) {
      const desktop = await openDesktopFromLauncher(page);
      current = desktop.page;
      const painted = await waitForPaintedDesktop(desktop.page);
      await desktop.page.waitForTimeout(500); // the last framebuffer update
      const shot = await screenshot(desktop.page, `${artifacts}/hub-desktop.png`);
      emit('desktop', { run, url: desktop.url, ms: desktop.ms, status: desktop.status, canvas: desktop.canvas, colors: painted.colors, screenshot: shot });
      await desktop.page.close();
      current = page;
    }
    if (run === 0 && env.KUBEDESK_FILE) {
      const [name, ...rest] = env.KUBEDESK_FILE.split('=');
      const res = await writeFileThroughServer(page, base, name, rest.join('='));
      emit('file', { run, name, http_status: res.status });
      if (res.status >= 300) throw new Error(`PUT contents/${name}: ${res.status} ${res.body}`);
    }
    if (run === 0 && env.KUBEDESK_PAUSE === '1') {
      emit('paused', { run });
      await waitForLine();
    }
    const stopMs = await stopFromHubHome(page, hub);
    emit('stopped', { run, ms: stopMs });
  }
  emit('done');
} catch (err) {
  await screenshot(current, `${artifacts}/hub-session-failed.png`).catch(() => {});
  emit('error', { error: String(err?.stack || err), url: current.url() });
  process.exitCode = 1;
} finally {
  stdin.close();
  await browser.close();
}
