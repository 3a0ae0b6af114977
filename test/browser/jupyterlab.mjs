#!/usr/bin/env node
// kubedesk's JupyterLab extension as a person uses it, in headless Chromium
// through a real JupyterHub: the Launcher's app tiles, the Running apps
// panel, an app's window in a JupyterLab tab, "Launch App by Name…" from the
// command palette, and a notebook run through the Jupyter server.
//
// The caller (test/e2e/jupyterlab_test.go) checks what the browser cannot
// see (pods in the API server) between steps, so the script takes one
// command per line on stdin, as JSON, and answers each with one JSON line:
// {"ok": true, ...} or {"ok": false, "error": ..., "screenshot": ...}.
//
//   {"cmd": "open", "hub": URL, "user": U, "password": P, "expect": "XTerm 1"}
//       → {tiles: [{section, label}]}: log in, open JupyterLab, wait for the
//         tile labelled expect, read the Launcher
//   {"cmd": "click-tile", "label": "XTerm 1"}
//       → {id} of the app the Running apps panel then lists, or {notice} when refused
//   {"cmd": "wait-status", "id": ID, "status": "running"}  → {text}: the panel's status line
//   {"cmd": "open-tab", "id": ID, "title": T, "screenshot": PNG}
//       → {window: {title, width, height, colors}, secretURLs}: "Open in tab", the app's
//         window drawn in it; secretURLs counts the requests so far (pages,
//         frames, websockets) whose URL had a password= or key= parameter
//   {"cmd": "open-from-output", "label": L, "id": ID, "title": T, "screenshot": PNG}
//       → as open-tab, by the button labelled L in the open notebook's output
//   {"cmd": "show-on-desktop", "id": ID}
//       → {url} of the page it opened: "Show on desktop", the app's tab closed
//   {"cmd": "stop", "id": ID}  → {text}: "Stop", then the panel's line once the app is gone
//   {"cmd": "open-with", "file": F, "label": "Open with Broken", "write": true}
//       → {id} or {notice}: write F into the home (unless write is false),
//         right-click it in the file browser (in its folder), choose label
//   {"cmd": "launch-by-name", "name": N}  → {notice}
//   {"cmd": "notebook", "path": P, "cells": [source…], "done": MARKER}
//       → {outputs: [text…]}: write the notebook, open it, Run All Cells, wait for MARKER
//   {"cmd": "run-notebook", "path": P, "done": TEXT}
//       → {outputs}: open the notebook P of the home as it is, Run All Cells,
//         wait for TEXT in an output
//   {"cmd": "spawn", "hub": URL, "user": U, "password": P, "profile": SLUG,
//    "progressShot": PNG, "labShot": PNG, "expect": LABEL}
//       → {tiles, messages: [text…]}: the way a new user starts: log in, the
//         spawn form, the profile, Start, the progress page (its screenshot
//         once a message shows), JupyterLab with the tile labelled expect
//   {"cmd": "notice", "screenshot": PNG?}  → {notice}: the Running apps panel's
//         notice, once one shows
//   {"cmd": "desktop", "screenshot": PNG}  → {status, canvas}: the launcher's
//         Desktop tile, noVNC connected and painted, in a page of its own
//   {"cmd": "desktop-click", "x": X, "y": Y}  → {}: a click at X, Y of the desktop
//   {"cmd": "desktop-shot", "screenshot": PNG}  → {}
//
// KUBEDESK_ARTIFACTS: folder of the failure screenshot (test/artifacts).
import { createInterface } from 'node:readline';
import {
  launch,
  hubLogin,
  screenshot,
  waitForXpraWindow,
  writeFileThroughServer,
  openDesktopFromLauncher,
  waitForPaintedDesktop,
  clickDesktop,
  spawnFormProfiles,
  startFromSpawnForm,
} from './kubedesk.mjs';

const artifacts = process.env.KUBEDESK_ARTIFACTS || 'test/artifacts';
// How long one step may wait: an app's pod starts, a kernel starts, a
// notebook waits for an app (the caller's own timeouts are longer).
const timeout = Number(process.env.KUBEDESK_TIMEOUT_MS || 180_000);

const { browser, page } = await launch({ viewport: { width: 1600, height: 1000 } });
// The app's Xpra password reaches its HTML5 client in the page, never in
// a URL (history, access logs, Referer): count any request that has one.
const withSecret = (u) => /[?&#](password|key)=/.test(u);
let secretURLs = 0;
page.on('request', (req) => { if (withSecret(req.url())) secretURLs++; });
page.on('websocket', (ws) => { if (withSecret(ws.url())) secretURLs++; });
let labURL = '';
let desktopPage = null;

const panel = () => page.locator('#kubedesk-running-apps');
const item = (id) => panel().locator(`[data-app-id="${id}"]`);
const notice = () => panel().locator('.kd-RunningApps-notice');

async function showPanel() {
  if (!(await panel().isVisible())) {
    await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="kubedesk-running-apps"]').click();
  }
  await panel().waitFor({ state: 'visible', timeout });
}

async function shownIds() {
  return panel().locator('[data-app-id]').evaluateAll((els) => els.map((e) => e.dataset.appId));
}

// waitForNewAppOrNotice waits until the panel lists an app not in before,
// or shows a notice; returns {id} or {notice}.
async function waitForNewAppOrNotice(before) {
  const handle = await page.waitForFunction(
    (before) => {
      const p = document.getElementById('kubedesk-running-apps');
      if (!p) return null;
      const n = p.querySelector('.kd-RunningApps-notice');
      if (n && !n.hidden && n.textContent.trim()) return { notice: n.querySelector('span')?.textContent ?? n.textContent };
      for (const el of p.querySelectorAll('[data-app-id]')) {
        if (!before.includes(el.dataset.appId)) return { id: el.dataset.appId };
      }
      return null;
    },
    before,
    { timeout, polling: 100 },
  );
  return handle.jsonValue();
}

async function openLauncher() {
  // By clicks, not the keyboard: an app's tab (the Xpra client) may have
  // the focus, and it takes the keys.
  if (!(await page.locator('.jp-Launcher:visible').count())) {
    const tab = page.locator('#jp-main-dock-panel .lm-TabBar-tab', { hasText: /^Launcher$/ });
    if (await tab.count()) await tab.first().click();
    else await page.locator('#jp-main-dock-panel .lm-TabBar-addButton').first().click();
  }
  await page.locator('.jp-Launcher:visible .jp-LauncherCard').first().waitFor({ state: 'visible', timeout });
}

// readTiles waits until the Launcher shows the tile labelled expect (the
// extension adds its tiles once the catalog has come) and reads every tile
// by section.
async function readTiles(expect) {
  await page.locator('.jp-Launcher:visible .jp-LauncherCard-label', { hasText: expect }).first().waitFor({ state: 'visible', timeout });
  await panel().waitFor({ state: 'attached', timeout });
  return page.locator('.jp-Launcher:visible .jp-Launcher-section').evaluateAll((sections) =>
    sections.flatMap((s) => {
      const section = s.querySelector('.jp-Launcher-sectionTitle')?.textContent.trim() ?? '';
      return [...s.querySelectorAll('.jp-LauncherCard-label')].map((l) => ({ section, label: l.textContent.trim() }));
    }),
  );
}

// runNotebook opens the notebook at path (relative to the server's root),
// runs all its cells and waits for done in an output; returns each cell's
// output text.
async function runNotebook(path, done) {
  const base = labURL.replace(/\/lab.*$/, '/');
  await page.goto(`${base}lab/tree/${path}`, { timeout, waitUntil: 'domcontentloaded' });
  const notebook = page.locator('.jp-NotebookPanel:visible');
  await notebook.waitFor({ state: 'visible', timeout });
  // The kernel has started: the status bar says so.
  await page.locator('.jp-StatusBar-Widget', { hasText: /\| Idle/ }).first().waitFor({ state: 'visible', timeout });
  const runAll = async () => {
    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-item', { hasText: 'Run All Cells' }).first().click();
  };
  await runAll();
  // JupyterLab may ask which kernel to use (the notebook names python3),
  // dropping the run: a person takes the kernel it offers and runs again.
  const finished = notebook.locator('.jp-OutputArea-output', { hasText: done });
  const kernelDialog = page.locator('.jp-Dialog', { hasText: 'Select Kernel' });
  // A run asked for while the kernel still connects can be dropped: run
  // again while no cell has started ("[ ]:" everywhere).
  const started = () =>
    notebook.locator('.jp-InputPrompt').evaluateAll((ps) => ps.some((p) => !/^\[\s*\]:$/.test(p.textContent.trim())));
  const deadline = Date.now() + timeout;
  let ranAt = Date.now();
  while (!(await finished.isVisible())) {
    if (Date.now() > deadline) throw new Error(`no output "${done}" within ${timeout} ms`);
    if (await kernelDialog.isVisible()) {
      await kernelDialog.locator('.jp-mod-accept').click();
      await kernelDialog.waitFor({ state: 'hidden', timeout });
    }
    if (!(await started()) && Date.now() - ranAt > 5000) {
      await runAll();
      ranAt = Date.now();
    }
    await page.waitForTimeout(500);
  }
  const outputs = await notebook.locator('.jp-Cell').evaluateAll((cells) =>
    cells.map((c) => [...c.querySelectorAll('.jp-OutputArea-output')].map((o) => o.innerText).join('\n')),
  );
  await screenshot(page, `${artifacts}/jupyterlab-${path.replace(/\//g, '-').replace(/\.ipynb$/, '')}.png`);
  return { outputs };
}

// waitForAppWindow waits for the app's tab (an iframe on its view URL) and
// its window drawn there by the Xpra HTML5 client, and saves a screenshot.
async function waitForAppWindow(id, title, shot) {
  const frameEl = page.locator(`#kubedesk-view-${id} iframe`);
  await frameEl.waitFor({ state: 'visible', timeout });
  const frame = await (await frameEl.elementHandle()).contentFrame();
  // The Xpra HTML5 client draws each window in a div.window with a
  // title bar and a canvas; drawn means more than one colour.
  const window = await waitForXpraWindow(frame, title, { timeout });
  await screenshot(page, shot);
  if (withSecret(frame.url())) secretURLs++;
  return { window, url: frame.url(), secretURLs };
}

const commands = {
  async open({ hub, user, password, expect }) {
    await hubLogin(page, hub, { user, password });
    labURL = new URL(`user/${encodeURIComponent(user)}/lab`, hub.endsWith('/') ? hub : `${hub}/`).href;
    await page.goto(labURL, { timeout, waitUntil: 'domcontentloaded' });
    await page.locator('#jp-main-dock-panel').waitFor({ state: 'visible', timeout });
    // JupyterLab opens with a Launcher; the extension adds its tiles once
    // the catalog has come.
    return { tiles: await readTiles(expect) };
  },

  async spawn({ hub, user, password, profile, progressShot, labShot, expect }) {
    await hubLogin(page, hub, { user, password });
    await spawnFormProfiles(page, hub, { timeout });
    const started = await startFromSpawnForm(page, profile, { timeout, progressShot });
    labURL = started.url.replace(/\/lab.*$/, '/lab');
    const tiles = await readTiles(expect);
    await screenshot(page, labShot);
    return { tiles, messages: started.messages.map((m) => m.text) };
  },

  async notice({ screenshot: shot }) {
    await showPanel();
    await notice().waitFor({ state: 'visible', timeout });
    if (shot) await screenshot(page, shot);
    return { notice: (await notice().innerText()).trim() };
  },

  async desktop({ screenshot: shot }) {
    await openLauncher();
    const d = await openDesktopFromLauncher(page, { timeout });
    desktopPage = d.page;
    await waitForPaintedDesktop(desktopPage, { timeout });
    await desktopPage.waitForTimeout(500); // the last framebuffer update
    await screenshot(desktopPage, shot);
    return { status: d.status, canvas: d.canvas };
  },

  async 'desktop-click'({ x, y }) {
    if (!desktopPage) throw new Error('no desktop open');
    await clickDesktop(desktopPage, x, y);
    return {};
  },

  async 'desktop-shot'({ screenshot: shot }) {
    if (!desktopPage) throw new Error('no desktop open');
    await desktopPage.waitForTimeout(300); // the last framebuffer update
    await screenshot(desktopPage, shot);
    return {};
  },

  async 'click-tile'({ label }) {
    await openLauncher();
    await showPanel();
    const before = await shownIds();
    await page
      .locator('.jp-Launcher:visible .jp-LauncherCard', { has: page.locator('.jp-LauncherCard-label', { hasText: label }) })
      .first()
      .click();
    return waitForNewAppOrNotice(before);
  },

  async 'wait-status'({ id, status }) {
    await showPanel();
    await item(id).and(page.locator(`.kd-mod-${status}`)).waitFor({ state: 'visible', timeout });
    return { text: await item(id).locator('.kd-RunningApps-status').textContent() };
  },

  async 'open-tab'({ id, title, screenshot: shot }) {
    await showPanel();
    await item(id).getByRole('button', { name: 'Open in tab' }).click();
    return waitForAppWindow(id, title, shot);
  },

  async 'open-from-output'({ label, id, title, screenshot: shot }) {
    await page.locator('.jp-NotebookPanel:visible .jp-OutputArea-output').getByRole('button', { name: label }).click();
    return waitForAppWindow(id, title, shot);
  },

  async 'show-on-desktop'({ id }) {
    await showPanel();
    const [desktop] = await Promise.all([
      page.context().waitForEvent('page', { timeout }),
      item(id).getByRole('button', { name: 'Show on desktop' }).click(),
    ]);
    await page.locator(`#kubedesk-view-${id}`).waitFor({ state: 'detached', timeout });
    await desktop.waitForLoadState('domcontentloaded', { timeout });
    const url = desktop.url();
    await desktop.close();
    return { url };
  },

  async stop({ id }) {
    await showPanel();
    await item(id).getByRole('button', { name: 'Stop' }).click();
    // Once the pod is gone the service no longer lists the app and the
    // panel keeps it as ended.
    await item(id).locator('.kd-RunningApps-status', { hasText: 'Ended: Stopped' }).waitFor({ state: 'visible', timeout });
    return { text: await item(id).locator('.kd-RunningApps-status').textContent() };
  },

  async 'open-with'({ file, label, write = true }) {
    const base = labURL.replace(/\/lab.*$/, '/');
    if (write) {
      const put = await writeFileThroughServer(page, base, file, 'kubedesk e2e\n');
      if (put.status >= 300) throw new Error(`PUT contents/${file}: ${put.status} ${put.body}`);
    }
    const slash = file.lastIndexOf('/');
    if (slash >= 0) {
      // The file browser opens at the file's folder.
      await page.goto(`${base}lab/tree/${file.slice(0, slash)}`, { timeout, waitUntil: 'domcontentloaded' });
      await page.locator('#jp-main-dock-panel').waitFor({ state: 'visible', timeout });
    }
    const name = file.slice(slash + 1);
    await showPanel();
    const before = await shownIds();
    await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="filebrowser"]').click();
    const entry = page.locator('.jp-DirListing-item', { has: page.locator('.jp-DirListing-itemText', { hasText: name }) });
    // The listing refreshes on its own; the button makes it now.
    await page.locator('.jp-FileBrowser .jp-ToolbarButtonComponent[title*="Refresh"]').first().click().catch(() => {});
    await entry.waitFor({ state: 'visible', timeout });
    await entry.click({ button: 'right' });
    // The extension brings its panel forward itself (a click on its tab
    // now could close it again).
    await page.locator('.lm-Menu-item', { hasText: label }).first().click();
    return waitForNewAppOrNotice(before);
  },

  async 'launch-by-name'({ name }) {
    await showPanel();
    // Focus on the page, not in an app's tab (the Xpra client takes keys).
    await panel().locator('h2').click();
    await page.keyboard.press('Control+Shift+C');
    const palette = page.locator('.lm-CommandPalette-input');
    await palette.waitFor({ state: 'visible', timeout });
    await palette.fill('Launch App by Name');
    await page.locator('.lm-CommandPalette-item', { hasText: 'Launch App by Name' }).first().click();
    const input = page.locator('.jp-Dialog input');
    await input.waitFor({ state: 'visible', timeout });
    await input.fill(name);
    const before = await shownIds();
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    return waitForNewAppOrNotice(before);
  },

  async notebook({ path, cells, done }) {
    const base = labURL.replace(/\/lab.*$/, '/');
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
      cells: cells.map((source, i) => ({ id: `c${i}`, cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null })),
    };
    const put = await page.evaluate(
      async ({ url, nb }) => {
        const xsrf = document.cookie.split('; ').find((c) => c.startsWith('_xsrf='))?.slice(6) ?? '';
        const r = await fetch(url, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json', 'X-XSRFToken': decodeURIComponent(xsrf) },
          body: JSON.stringify({ type: 'notebook', content: nb }),
        });
        return { status: r.status, body: await r.text() };
      },
      { url: `${base}api/contents/${path}`, nb },
    );
    if (put.status >= 300) throw new Error(`PUT contents/${path}: ${put.status} ${put.body}`);
    return runNotebook(path, done);
  },

  async 'run-notebook'({ path, done }) {
    return runNotebook(path, done);
  },
};

const rl = createInterface({ input: process.stdin });
try {
  for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
      const fn = commands[req.cmd];
      if (!fn) throw new Error(`unknown command ${req.cmd}`);
      const out = await fn(req);
      console.log(JSON.stringify({ ok: true, cmd: req.cmd, ...out }));
    } catch (err) {
      const shot = `${artifacts}/jupyterlab-failed.png`;
      await screenshot(page, shot).catch(() => {});
      const panelText = await panel().innerText().catch(() => '');
      console.log(JSON.stringify({ ok: false, cmd: req?.cmd, error: String(err?.stack || err), url: page.url(), panel: panelText, screenshot: shot }));
    }
  }
} finally {
  await browser.close();
}
