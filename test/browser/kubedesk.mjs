// Reusable headless-Chromium steps for kubedesk's browser tests: Debian's
// chromium driven by playwright-core (no browser download). Each step takes
// a Playwright Page, so a test composes them: today "open a session's
// desktop"; later "log in to JupyterHub → spawn → JupyterLab → desktop".
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
