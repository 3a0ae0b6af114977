#!/usr/bin/env node
// Opens a session's JupyterLab and its desktop in headless Chromium, asserts
// that noVNC connected and painted a desktop, saves a screenshot, and prints
// one JSON line of results. Exit status 0 on success.
//
//   node test/browser/check-desktop.mjs BASE_URL TOKEN SCREENSHOT.png
//   BASE_URL: the server's prefix URL, e.g. http://127.43.200.1:8888/user/test/
// With KUBEDESK_MENU_SHOT=FILE.png it then clicks the panel's Applications
// button through noVNC and saves the open menu too.
import { launch, openJupyterLab, openDesktop, waitForPaintedDesktop, clickDesktop, screenshot } from './kubedesk.mjs';

const [base, token, shot] = process.argv.slice(2);
if (!base || !shot) {
  console.error('usage: check-desktop.mjs BASE_URL TOKEN SCREENSHOT.png');
  process.exit(2);
}
const q = token ? `?token=${encodeURIComponent(token)}` : '';
const { browser, page } = await launch();
try {
  const lab = await openJupyterLab(page, new URL(`lab${q}`, base).href);
  const desktop = await openDesktop(page, new URL(`desktop/${q}`, base).href);
  const painted = await waitForPaintedDesktop(page);
  await page.waitForTimeout(500); // let the last framebuffer update land
  await screenshot(page, shot);
  const menuShot = process.env.KUBEDESK_MENU_SHOT;
  if (menuShot) {
    await clickDesktop(page, 40, 14); // XFCE panel, top left: "Applications"
    await page.waitForTimeout(1500);
    await screenshot(page, menuShot);
  }
  console.log(JSON.stringify({ ok: true, menu_screenshot: menuShot || null, lab_ms: lab, desktop_ms: desktop.ms, painted_ms: painted.ms, colors: painted.colors, status: desktop.status, canvas: desktop.canvas, screenshot: shot }));
} catch (err) {
  await screenshot(page, shot.replace(/\.png$/, '-failed.png')).catch(() => {});
  console.log(JSON.stringify({ ok: false, error: String(err) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
