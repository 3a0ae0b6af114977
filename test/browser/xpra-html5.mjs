#!/usr/bin/env node
// Opens an app's Xpra HTML5 client (through the launcher agent's proxy) in
// headless Chromium, waits until the app's window is in the page (Xpra's
// HTML window whose title contains TITLE) and its canvas is drawn (more
// than one colour), saves a screenshot, and prints one JSON line. Exit
// status 0 on success. secretURLs counts the page's requests (pages,
// assets, websocket) whose URL has a password= or key= parameter: the
// launcher agent hands the client its Xpra password and the key of the
// stream's encryption in the page, never in a URL.
//
//   node test/browser/xpra-html5.mjs URL TITLE SCREENSHOT.png
//   URL: e.g. http://127.42.0.7:8899/apps/<id>/?token=<hub token>
//
// With KUBEDESK_HOLD_MS=N the page stays open N ms after the window showed
// (a client attached that long), before the browser closes.
import { launch, screenshot, waitForXpraWindow } from './kubedesk.mjs';

const [url, title, shot] = process.argv.slice(2);
if (!url || !title || !shot) {
  console.error('usage: xpra-html5.mjs URL TITLE SCREENSHOT.png');
  process.exit(2);
}
const timeout = Number(process.env.KUBEDESK_TIMEOUT_MS || 60_000);
const hold = Number(process.env.KUBEDESK_HOLD_MS || 0);
const { browser, page } = await launch({ viewport: { width: 1280, height: 800 } });
const withSecret = (u) => /[?&#](password|key)=/.test(u);
let secretURLs = 0;
page.on('request', (req) => { if (withSecret(req.url())) secretURLs++; });
page.on('websocket', (ws) => { if (withSecret(ws.url())) secretURLs++; });
const t0 = Date.now();
try {
  await page.goto(url, { timeout, waitUntil: 'domcontentloaded' });
  const win = await waitForXpraWindow(page, title, { timeout });
  const ms = Date.now() - t0;
  await screenshot(page, shot);
  if (hold > 0) await page.waitForTimeout(hold);
  if (withSecret(page.url())) secretURLs++;
  console.log(JSON.stringify({ ok: true, ms, window: win, url: page.url(), secretURLs, screenshot: shot }));
} catch (err) {
  await screenshot(page, shot.replace(/\.png$/, '-failed.png')).catch(() => {});
  const text = await page.evaluate(() => document.body?.innerText?.slice(0, 500)).catch(() => '');
  console.log(JSON.stringify({ ok: false, error: String(err), page: text, url: page.url(), secretURLs }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
