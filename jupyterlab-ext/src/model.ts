/**
 * What the extension knows about apps, free of JupyterLab so that it is
 * tested on its own: the server extension's JSON, grouping for the
 * Launcher, status lines for people, and which apps open a file.
 */

/** One version of an app this session may launch (spawner/sessionapi.CatalogApp). */
export interface ICatalogApp {
  id: string;
  name: string;
  version: string;
  description?: string;
  icon?: string;
  categories?: string[];
  file_types?: string[];
  terminal?: boolean;
}

/** The statuses the service reports (spawner/sessionapi.Status*). */
export type AppStatus = 'starting' | 'running' | 'stopping' | 'ended' | 'failed';

/** One of the session's apps (spawner/sessionapi.App, without the Xpra address). */
export interface IRunningApp {
  id: string;
  app: string;
  version: string;
  status: AppStatus;
  message?: string;
  pod?: string;
  exit_code?: number;
  started_at?: string;
}

/** The category of apps whose catalog entry names none. */
export const OTHER_CATEGORY = 'Other';

/** "visualization" → "Visualization": catalog categories are lower case. */
export function categoryLabel(category: string): string {
  const c = category.trim();
  return c ? c[0].toUpperCase() + c.slice(1) : OTHER_CATEGORY;
}

/**
 * The catalog by category (sorted by label), each category's apps sorted by
 * name and newest version first. An app with several categories is in each,
 * as on the desktop's menu.
 */
export function groupByCategory(apps: readonly ICatalogApp[]): Map<string, ICatalogApp[]> {
  const groups = new Map<string, ICatalogApp[]>();
  for (const app of apps) {
    const cats = app.categories && app.categories.length ? app.categories : [OTHER_CATEGORY];
    for (const c of new Set(cats.map(categoryLabel))) {
      if (!groups.has(c)) {
        groups.set(c, []);
      }
      groups.get(c)!.push(app);
    }
  }
  const sorted = new Map<string, ICatalogApp[]>();
  for (const c of [...groups.keys()].sort((a, b) => a.localeCompare(b))) {
    sorted.set(
      c,
      groups
        .get(c)!
        .sort((a, b) => displayName(a).localeCompare(displayName(b)) || compareVersions(b.version, a.version))
    );
  }
  return sorted;
}

export function displayName(app: ICatalogApp): string {
  return app.name || app.id;
}

/**
 * Compares versions as the catalog does (spawner/sessionapi.CompareVersions):
 * runs of digits by number, everything else by text.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) {
        return d < 0 ? -1 : 1;
      }
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return pa.length - pb.length;
}

/** The newest version of each app id, in catalog order. */
export function newestVersions(apps: readonly ICatalogApp[]): ICatalogApp[] {
  const newest = new Map<string, ICatalogApp>();
  for (const app of apps) {
    const seen = newest.get(app.id);
    if (!seen || compareVersions(app.version, seen.version) > 0) {
      newest.set(app.id, app);
    }
  }
  return [...newest.values()];
}

/** Whether an app opens a file: by extension (".nii.gz", any case) or MIME type. */
export function opensFile(app: ICatalogApp, path: string, mimetype?: string): boolean {
  const name = path.split('/').pop()!.toLowerCase();
  return (app.file_types ?? []).some(t =>
    t.startsWith('.') ? name.endsWith(t.toLowerCase()) && name.length > t.length : !!mimetype && t === mimetype
  );
}

/** The newest version of every app that opens all of these files. */
export function appsForFiles(
  apps: readonly ICatalogApp[],
  files: readonly { path: string; mimetype?: string }[]
): ICatalogApp[] {
  if (!files.length) {
    return [];
  }
  return newestVersions(apps).filter(app => files.every(f => opensFile(app, f.path, f.mimetype)));
}

/** Whether the app is gone or going for good. */
export function isFinished(app: IRunningApp): boolean {
  return app.status === 'ended' || app.status === 'failed';
}

/** A status line for a person. */
export function statusText(app: IRunningApp): string {
  const msg = (app.message ?? '').trim();
  switch (app.status) {
    case 'starting':
      return msg ? `Starting: ${msg}` : 'Starting…';
    case 'running':
      return 'Running';
    case 'stopping':
      return 'Stopping…';
    case 'failed':
      return msg ? `Failed: ${msg}` : 'Failed to start';
    case 'ended':
      if (msg) {
        return `Ended: ${msg}`;
      }
      return app.exit_code !== undefined && app.exit_code !== 0 ? `Ended with exit code ${app.exit_code}` : 'Ended';
    default:
      return msg || String(app.status);
  }
}
