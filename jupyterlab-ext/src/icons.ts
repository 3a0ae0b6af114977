/** The extension's icons: SVG strings, and the LabIcons made of them. */
import { LabIcon } from '@jupyterlab/ui-components';

import { ICatalogApp, displayName } from './model';

export const kubedeskIconSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 4h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1h-7v2h3v2H7v-2h3v-2H3a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1zm1 2v10h16V6H4z"/>
    <path d="M6 8h6v5H6zM13 9h5v1h-5zM13 11h5v1h-5z"/>
  </g>
</svg>`;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * An app's icon: the catalog's picture when it is a URL (http, https or a
 * data: URL), else the app's initial on a tile, since an icon theme name
 * or a file path of the app's image means nothing to the browser.
 */
export function appIconSvg(name: string, icon?: string): string {
  if (icon && /^(https?:|data:image\/)/.test(icon)) {
    return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 52 52"><image href="${escapeXml(icon)}" width="52" height="52"/></svg>`;
  }
  const initial = escapeXml((name.trim()[0] ?? '?').toUpperCase());
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 52 52">
  <rect class="jp-icon-brand0" fill="#1976d2" x="2" y="2" width="48" height="48" rx="8"/>
  <text x="26" y="35" text-anchor="middle" font-family="sans-serif" font-size="26" font-weight="bold" fill="#fff">${initial}</text>
</svg>`;
}

/** The extension's own icon: the Running apps panel's tab, app tabs, commands. */
export const kubedeskIcon = new LabIcon({ name: 'kubedesk:logo', svgstr: kubedeskIconSvg });

/** One icon per app: its own when the catalog gives a URL, else its initial. */
export function iconFor(app: ICatalogApp): LabIcon {
  return new LabIcon({ name: `kubedesk:app-${app.id}`, svgstr: appIconSvg(displayName(app), app.icon) });
}
