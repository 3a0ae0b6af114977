// Reusable headless-Chromium steps for kubedesk's browser tests: Debian's
// chromium driven by playwright-core (no browser download). Each step takes
// a Playwright Page, so a test composes them: "open a session's desktop"
// (check-desktop.mjs), or "log in to JupyterHub → choose a profile → wait
// through the progress page → JupyterLab → the Desktop tile → stop from the
// hub's home page" (hub-session.mjs).
//
//   import { launch, openJupyterLab, openDesktop, screenshot } from './kubedesk.mjs';
//   const { browser, page } = await launch();
//   await openDesktop(page, 'http://127.43.0.1:8888/user/u/desktop/?token=…');
//   await screenshot(page, 'test/artifacts/desktop.png');
//   await browser.close();
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.KUBEDESK_CHROMIUM || '/usr/bin/chromium';

// Flags for a quiet, reproducible headless run as root in a VM without GPU.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** Starts Chromium and opens one page; returns { browser, context, page }. */
export async function launch({ viewport = { width: 1680, height: 1050 }, executablePath = CHROMIUM } = {}) {
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  return { browser, context, page };
}

/**
 * Opens JupyterLab at url (e.g. http://ip:8888/user/u/lab?token=…) and waits
 * until its shell is up. Returns the time it took in ms.
 */
export async function openJupyterLab(page, url, { timeout = 60_000 } = {}) {
  const t0 = Date.now();
  await page.goto(url, { timeout, waitUntil: 'domcontentloaded' });
  await page.locator('#jp-main-dock-panel').waitFor({ state: 'visible', timeout });
  return Date.now() - t0;
}

/**
 * Opens jupyter-remote-desktop-proxy's noVNC page at url (<prefix>desktop/,
 * with ?token=… where the server wants one) and waits until noVNC says
 * "Connected" and its canvas has the desktop's size. Returns
 * { ms, status, canvas: {width, height} }.
 */
export async function openDesktop(page, url, { timeout = 60_000 } = {}) {
  const t0 = Date.now();
  await page.goto(url, { timeout, waitUntil: 'domcontentloaded' });
  const state = await waitForDesktop(page, { timeout });
  return { ms: Date.now() - t0, ...state };
}

/** Waits on the desktop page for a connected noVNC canvas; returns its state. */
export async function waitForDesktop(page, { timeout = 60_000 } = {}) {
  await page.waitForFunction(
    () => {
      const status = document.getElementById('status')?.textContent;
      const canvas = document.querySelector('#screen canvas');
      return status === 'Connected' && canvas && canvas.width > 100 && canvas.height > 100;
    },
    null,
    { timeout, polling: 100 },
  );
  return desktopState(page);
}

/** What the desktop page shows: noVNC status text and canvas size. */
export async function desktopState(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('#screen canvas');
    return {
      status: document.getElementById('status')?.textContent ?? null,
      canvas: canvas ? { width: canvas.width, height: canvas.height } : null,
    };
  });
}

/**
 * Waits until the noVNC canvas shows more than a blank screen: at least
 * minColors distinct colours in a sample of its pixels (a drawn desktop with
 * a panel and a wallpaper has many; a black or grey screen has one or two).
 */
export async function waitForPaintedDesktop(page, { timeout = 30_000, minColors = 16 } = {}) {
  const t0 = Date.now();
  let colors = 0;
  while (Date.now() - t0 < timeout) {
    colors = await page.evaluate(() => {
      const c = document.querySelector('#screen canvas');
      if (!c) return 0;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return seen.size;
    });
    if (colors >= minColors) return { ms: Date.now() - t0, colors };
    await page.waitForTimeout(200);
  }
  throw new Error(`desktop canvas still blank after ${timeout} ms (${colors} colours)`);
}

/**
 * Clicks on the remote desktop at desktop coordinates (x, y): a real mouse
 * click in the browser, which noVNC sends to the X server.
 */
export async function clickDesktop(page, x, y) {
  const box = await page.locator('#screen canvas').boundingBox();
  await page.mouse.click(box.x + x, box.y + y);
}

/** Saves a screenshot of the page, creating the folder. */
export async function screenshot(page, path) {
  await mkdir(dirname(path), { recursive: true });
  await page.screenshot({ path });
  return path;
}

// --- JupyterHub ---------------------------------------------------------------

/**
 * Logs in on the hub's own login page (DummyAuthenticator, or any
 * authenticator with JupyterHub's username/password form). hub is the
 * public URL, e.g. http://127.0.0.1:8000.
 */
export async function hubLogin(page, hub, { user, password = '', timeout = 60_000 } = {}) {
  await page.goto(new URL('hub/login', withSlash(hub)).href, { timeout, waitUntil: 'domcontentloaded' });
  await page.locator('#username_input').fill(user);
  await page.locator('#password_input').fill(password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.endsWith('/hub/login'), { timeout, waitUntil: 'domcontentloaded' }),
    page.locator('#login_submit').click(),
  ]);
}

/**
 * Opens the hub's spawn page (hub/spawn) and returns the profiles its form
 * offers: [{ value, label, checked }] of the radio buttons named `profile`
 * (the kubedesk service renders the form, as KubeSpawner's profileList).
 */
export async function spawnFormProfiles(page, hub, { timeout = 60_000 } = {}) {
  await page.goto(new URL('hub/spawn', withSlash(hub)).href, { timeout, waitUntil: 'domcontentloaded' });
  await page.locator('input[name="profile"]').first().waitFor({ state: 'attached', timeout });
  return page.locator('input[name="profile"]').evaluateAll((inputs) =>
    inputs.map((i) => ({
      value: i.value,
      checked: i.checked,
      label: document.querySelector(`label[for="${i.id}"]`)?.textContent.trim() ?? '',
    })),
  );
}

/**
 * On the spawn page (spawnFormProfiles opened it), chooses a profile, clicks
 * Start, waits through the progress page and until JupyterLab is loaded (its
 * launcher's tiles shown). The progress page's messages are collected as
 * they appear (a MutationObserver on #progress-message), with their time.
 *
 * With progressShot, it saves a screenshot of the progress page once its
 * first message shows.
 *
 * Returns { clickedAt, progressPageAt, serverURLAt, labShellAt (JupyterLab's
 * shell shown), labLoadedAt (its launcher's tiles shown) (epoch ms),
 * messages: [{ at, text }], url }.
 */
export async function startFromSpawnForm(page, profile, { timeout = 300_000, progressShot = '' } = {}) {
  const messages = [];
  await recordProgress(page.context(), (text) => {
    const last = messages[messages.length - 1];
    if (text && (!last || last.text !== text)) messages.push({ at: Date.now(), text });
  });
  await page.locator(`input[name="profile"][value="${profile}"]`).check();
  const times = {};
  const onNavigated = (frame) => {
    if (frame !== page.mainFrame()) return;
    const path = new URL(frame.url()).pathname;
    if (path.includes('/hub/spawn-pending/')) times.progressPageAt ??= Date.now();
    else if (path.includes('/user/') && !path.includes('/hub/')) times.serverURLAt ??= Date.now();
  };
  page.on('framenavigated', onNavigated);
  try {
    times.clickedAt = Date.now();
    await page.locator('form button[type="submit"], form input[type="submit"]').first().click();
    if (progressShot) {
      await page.waitForURL(/\/hub\/spawn-pending\//, { timeout, waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => document.getElementById('progress-message')?.textContent.trim(), null, { timeout, polling: 100 });
      await screenshot(page, progressShot);
    }
    await page.waitForURL(/\/user\/[^/]+\/lab/, { timeout, waitUntil: 'domcontentloaded' });
    await page.locator('#jp-main-dock-panel').waitFor({ state: 'visible', timeout: 120_000 });
    times.labShellAt = Date.now();
    // Loaded for a user: the launcher's tiles are there to click.
    await page.locator('.jp-LauncherCard').first().waitFor({ state: 'visible', timeout: 120_000 });
    times.labLoadedAt = Date.now();
  } finally {
    page.off('framenavigated', onNavigated);
  }
  return { ...times, messages, url: page.url() };
}

/**
 * In JupyterLab, clicks the launcher's "Desktop" tile (jupyter-remote-
 * desktop-proxy's entry, which opens a new tab) and waits until noVNC is
 * connected there. Returns { page: the desktop's page, ms, status, canvas }.
 */
export async function openDesktopFromLauncher(page, { timeout = 60_000, title = 'Desktop' } = {}) {
  const t0 = Date.now();
  // The label is the title, with " [↗]" for an entry that opens a new tab.
  const label = page.locator('.jp-LauncherCard-label', { hasText: new RegExp(`^\\s*${title}(\\s|\\[|$)`) });
  const tile = page.locator('.jp-LauncherCard').filter({ has: label }).first();
  await tile.waitFor({ state: 'visible', timeout });
  const [desktop] = await Promise.all([
    page.context().waitForEvent('page', { timeout }),
    tile.click(),
  ]);
  await desktop.waitForLoadState('domcontentloaded', { timeout });
  const state = await waitForDesktop(desktop, { timeout });
  return { page: desktop, ms: Date.now() - t0, url: desktop.url(), ...state };
}

/**
 * Writes a text file into the server's home through the Jupyter contents
 * API, from a page of that server (its cookies and _xsrf token). base is the
 * server's prefix URL, e.g. http://127.0.0.1:8000/user/u/.
 */
export async function writeFileThroughServer(page, base, path, content) {
  return page.evaluate(
    async ({ url, content }) => {
      const xsrf = document.cookie.split('; ').find((c) => c.startsWith('_xsrf='))?.slice(6) ?? '';
      const r = await fetch(url, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-XSRFToken': decodeURIComponent(xsrf) },
        body: JSON.stringify({ type: 'file', format: 'text', content }),
      });
      return { status: r.status, body: await r.text() };
    },
    { url: new URL(`api/contents/${path}`, withSlash(base)).href, content },
  );
}

/**
 * Clicks "Stop My Server" on the hub's home page and waits until the page
 * offers "Start My Server" again (the hub's DELETE answered). Returns ms.
 */
export async function stopFromHubHome(page, hub, { timeout = 120_000 } = {}) {
  // The button's click handler comes with home.js, which require.js loads
  // after the page: wait for the network to settle, and click again if a
  // click went to the bare link.
  await page.goto(new URL('hub/home', withSlash(hub)).href, { timeout, waitUntil: 'networkidle' });
  const t0 = Date.now();
  const stop = page.locator('#stop');
  for (let attempt = 1; ; attempt++) {
    await stop.click({ timeout });
    try {
      await stop.waitFor({ state: 'hidden', timeout: attempt < 3 ? 15_000 : timeout });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  await page.waitForFunction(() => {
    const start = document.getElementById('start');
    return start && !start.hasAttribute('disabled') && /Start My Server/.test(start.textContent);
  }, null, { timeout, polling: 200 });
  return Date.now() - t0;
}

function withSlash(url) {
  return url.endsWith('/') ? url : `${url}/`;
}

// recordProgress makes every spawn-pending page of context report the text
// of its #progress-message to onMessage (the latest one installed).
async function recordProgress(context, onMessage) {
  context.__kubedeskOnProgress = onMessage;
  if (context.__kubedeskProgressInstalled) return;
  context.__kubedeskProgressInstalled = true;
  await context.exposeFunction('__kubedeskProgress', (text) => context.__kubedeskOnProgress?.(text));
  await context.addInitScript(() => {
    if (!location.pathname.includes('/spawn-pending/')) return;
    const report = () => {
      const el = document.getElementById('progress-message');
      if (el && el.textContent.trim()) window.__kubedeskProgress(el.textContent.trim());
    };
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('progress-message');
      if (el) new MutationObserver(report).observe(el, { childList: true, characterData: true, subtree: true });
      report();
    });
  });
}

// waitForXpraWindow waits until Xpra's HTML5 client in frame (a page or an
// iframe's frame) draws a window whose title contains title: its div.window
// has a canvas with more than one colour. It returns the window's title,
// size and colour count.
export async function waitForXpraWindow(frame, title, { timeout = 60_000 } = {}) {
  const shown = await frame.waitForFunction(
    (want) => {
      for (const w of document.querySelectorAll('div.window')) {
        const t = w.querySelector('.windowtitle');
        const c = w.querySelector('canvas');
        if (!t || !c || !t.textContent.includes(want) || c.width < 10 || c.height < 10) continue;
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < data.length; i += 4 * 13) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        if (seen.size > 1) return { title: t.textContent, width: c.width, height: c.height, colors: seen.size };
      }
      return null;
    },
    title,
    { timeout, polling: 200 },
  );
  return shown.jsonValue();
}
