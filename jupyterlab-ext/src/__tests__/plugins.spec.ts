/**
 * The plugins as JupyterLab loads them: a Lumino application resolves each
 * plugin's tokens and activates it, in a real LabShell, with JupyterLab's
 * setting registry over the schemas in schema/, a real Launcher model and a
 * command palette; only the Jupyter server (the server extension's
 * kubedesk/api routes) is a fake.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin, LabShell } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { ILauncher, LauncherModel } from '@jupyterlab/launcher';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry, SettingRegistry } from '@jupyterlab/settingregistry';
import { Application, IPlugin } from '@lumino/application';
import { Token } from '@lumino/coreutils';
import { DisposableDelegate } from '@lumino/disposable';
import { CommandPalette, Widget } from '@lumino/widgets';

import launcherSchema from '../../schema/launcher.json';
import pluginSchema from '../../schema/plugin.json';
import { KubedeskApps } from '../apps';
import plugins from '../index';
import { ICatalogApp, IRunningApp } from '../model';
import { appViewPlugin } from '../plugins/appView';
import { appsPlugin } from '../plugins/apps';
import { launcherPlugin } from '../plugins/launcher';
import { openWithPlugin } from '../plugins/openWith';
import { runningAppsPlugin } from '../plugins/runningApps';
import { CommandIDs, IKubedeskApps, PluginIDs } from '../tokens';

const xterm: ICatalogApp = { id: 'xterm', name: 'XTerm', version: '1', categories: ['system'] };
const broken: ICatalogApp = {
  id: 'broken',
  name: 'Broken',
  version: '1',
  categories: ['testing'],
  file_types: ['.txt']
};
const itksnap = (version: string): ICatalogApp => ({
  id: 'itksnap',
  name: 'ITK-SNAP',
  version,
  categories: ['visualization'],
  file_types: ['.nii.gz']
});

/** The server extension's kubedesk/api routes, with the service behind them, in memory. */
class FakeServer {
  catalog: ICatalogApp[] = [xterm, broken];
  apps: IRunningApp[] = [];
  /** Answers that replace the route's, by "METHOD path" (e.g. "POST apps"). */
  answers: Record<string, [number, unknown]> = {};
  requests: string[] = [];
  private next = 1;

  async handle(url: string, init: RequestInit): Promise<Response> {
    const path = new URL(url).pathname.replace(/^\/kubedesk\/api\//, '');
    const key = `${init.method ?? 'GET'} ${path}`;
    this.requests.push(key);
    const [status, body] =
      this.answers[key] ?? this.route(key, init.body ? JSON.parse(init.body as string) : undefined);
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return { ok: status < 300, status, text: async () => text } as Response;
  }

  private route(key: string, body: { app: string; version?: string }): [number, unknown] {
    const [method, path] = key.split(' ');
    const id = decodeURIComponent(path.replace(/^apps\//, ''));
    const app = this.apps.find(a => a.id === id);
    if (key === 'GET catalog') {
      return [200, this.catalog];
    }
    if (key === 'GET apps') {
      return [200, this.apps];
    }
    if (key === 'POST apps') {
      const a: IRunningApp = {
        id: `app-${this.next++}`,
        app: body.app,
        version: body.version ?? '',
        status: 'starting'
      };
      this.apps.push(a);
      return [202, a];
    }
    if (method === 'GET' && app) {
      return [200, app];
    }
    if (method === 'DELETE') {
      this.apps = this.apps.filter(a => a.id !== id);
      return [204, undefined];
    }
    return [404, { code: 'not_found', message: `No app ${id}.` }];
  }
}

/** JupyterLab's setting registry, its schemas at schema/<name>.json as the builder ships them. */
function settingRegistry(user: Record<string, Record<string, unknown>> = {}): SettingRegistry {
  const raws: Record<string, string> = {};
  const schemas: Record<string, ISettingRegistry.ISchema> = {
    plugin: pluginSchema as ISettingRegistry.ISchema,
    launcher: launcherSchema as ISettingRegistry.ISchema
  };
  const fetch = async (id: string) => {
    const schema = schemas[id.split(':')[1]];
    return id.startsWith('@kubedesk/jupyterlab:') && schema
      ? {
          id,
          raw: raws[id] ?? JSON.stringify(user[id] ?? {}),
          schema: JSON.parse(JSON.stringify(schema)),
          data: { composite: {}, user: {} },
          version: 'test'
        }
      : undefined;
  };
  return new SettingRegistry({
    connector: {
      fetch,
      list: async () => ({ ids: [], values: [] }),
      save: async (id: string, raw: string) => {
        raws[id] = raw;
      },
      remove: async () => undefined
    }
  });
}

/** Lumino's command palette behind JupyterLab's ICommandPalette. */
function commandPalette(app: Application<Widget>) {
  const lumino = new CommandPalette({ commands: app.commands });
  const palette: ICommandPalette = {
    placeholder: '',
    activate: () => undefined,
    addItem: options => {
      const item = lumino.addItem(options);
      return new DisposableDelegate(() => lumino.removeItem(item));
    }
  };
  return { palette, items: () => lumino.items.map(i => `${i.category} | ${i.label}`) };
}

interface IHarness {
  app: Application<Widget>;
  shell: LabShell;
  server: FakeServer;
  apps: KubedeskApps;
  launcher: LauncherModel;
  palette: () => string[];
  selected: { path: string; type: string; mimetype?: string }[];
  commands: Application<Widget>['commands'];
}

let running: IHarness[] = [];

/** Load these plugins as JupyterLab would, and the core plugin's model. */
async function load(
  kubedesk: JupyterFrontEndPlugin<unknown>[],
  options: { server?: FakeServer; user?: Record<string, Record<string, unknown>>; settings?: boolean } = {}
): Promise<IHarness> {
  const server = options.server ?? new FakeServer();
  jest
    .spyOn(ServerConnection, 'makeSettings')
    .mockReturnValue({ baseUrl: 'http://localhost/' } as ServerConnection.ISettings);
  jest.spyOn(ServerConnection, 'makeRequest').mockImplementation((url, init) => server.handle(url, init));

  const shell = new LabShell({ waitForRestore: false });
  const app = new Application<Widget>({ shell });
  const launcher = new LauncherModel();
  const { palette, items } = commandPalette(app);
  const selected: IHarness['selected'] = [];
  const browsers = { tracker: { currentWidget: { selectedItems: () => selected[Symbol.iterator]() } } };
  const registry = settingRegistry(options.user);
  const provide = <T>(id: string, token: Token<T>, service: T) => ({ id, provides: token, activate: () => service });
  app.registerPlugins([
    provide('test:shell', ILabShell, shell as unknown as ILabShell),
    provide('test:launcher', ILauncher, launcher),
    provide('test:palette', ICommandPalette, palette),
    provide('test:browsers', IFileBrowserFactory, browsers as unknown as IFileBrowserFactory),
    ...(options.settings === false ? [] : [provide('test:settings', ISettingRegistry, registry as ISettingRegistry)]),
    ...kubedesk
  ] as unknown as IPlugin<Application<Widget>, unknown>[]);
  Widget.attach(shell, document.body);
  for (const p of kubedesk) {
    await app.activatePlugin(p.id);
  }
  const apps = (await app.resolveRequiredService(IKubedeskApps)) as KubedeskApps;
  // The first list and the catalog, which activation asked for.
  await apps.refresh();
  await flush();
  const h = { app, shell, server, apps, launcher, palette: items, selected, commands: app.commands };
  running.push(h);
  return h;
}

/** Let the promises already settled run their callbacks (the catalog's load, a signal's slots). */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await Promise.resolve();
  }
}

afterEach(() => {
  for (const h of running) {
    h.apps.dispose();
    h.shell.dispose();
  }
  running = [];
  jest.restoreAllMocks();
  document.body.replaceChildren();
});

const tiles = (h: IHarness) =>
  [...h.launcher.items()].map(i => `${i.category} | ${h.commands.label(i.command, i.args)}`);
const panel = () => document.getElementById('kubedesk-running-apps');
const item = (id: string) => panel()!.querySelector<HTMLElement>(`[data-app-id="${id}"]`);
const notice = () => panel()!.querySelector<HTMLElement>('.kd-RunningApps-notice')!;
const button = (id: string, label: string) =>
  [...item(id)!.querySelectorAll('button')].find(b => b.textContent === label)!;

describe('the extension', () => {
  it('exports its five plugins, each with an id of the package and a description', () => {
    expect(plugins.map(p => p.id).sort()).toEqual(Object.values(PluginIDs).sort());
    for (const p of plugins) {
      expect(p.autoStart).toBe(true);
      expect(p.description).toBeTruthy();
    }
  });

  it('activates every plugin together, and a launch from a tile lands in the panel', async () => {
    const h = await load(plugins);
    expect(tiles(h)).toEqual(['System | XTerm 1', 'Testing | Broken 1']);
    await h.commands.execute(CommandIDs.launch, { id: 'xterm', version: '1' });
    expect(item('app-1')!.textContent).toContain('XTerm 1');
    expect(h.shell.leftCollapsed).toBe(false);
  });
});

describe('the apps plugin (core)', () => {
  it('provides the model: the catalog, the apps, and the launch commands', async () => {
    const server = new FakeServer();
    server.apps = [{ id: 'app-9', app: 'xterm', version: '1', status: 'running' }];
    const h = await load([appsPlugin], { server });
    expect(h.apps.catalog).toEqual([xterm, broken]);
    expect(h.apps.apps.map(a => a.id)).toEqual(['app-9']);
    expect(h.apps.label({ app: 'xterm', version: '1' })).toBe('XTerm 1');
    for (const id of [CommandIDs.launch, CommandIDs.launchByName, CommandIDs.refresh]) {
      expect(h.commands.hasCommand(id)).toBe(true);
    }
    expect(h.commands.label(CommandIDs.launch, { id: 'xterm', version: '1' })).toBe('XTerm 1');
    expect(h.commands.label(CommandIDs.launch, { id: 'nope' })).toBe('Launch nope');
    expect(h.palette()).toEqual(['kubedesk | Launch App by Name…', 'kubedesk | Reload the App Catalog']);
  });

  it('launches through the server extension, with the files, and says why a launch was refused', async () => {
    const h = await load([appsPlugin]);
    const launched = jest.fn();
    h.apps.launched.connect((_, r) => launched(r));
    await h.commands.execute(CommandIDs.launch, { id: 'broken', files: ['notes.txt'] });
    expect(h.server.requests).toContain('POST apps');
    expect(launched).toHaveBeenLastCalledWith(
      expect.objectContaining({ started: expect.objectContaining({ id: 'app-1' }) })
    );
    expect(h.apps.apps.map(a => a.id)).toEqual(['app-1']);

    h.server.answers['POST apps'] = [
      429,
      { code: 'quota', message: 'This session already runs or starts 1 app, the most it may; close one first.' }
    ];
    expect(await h.commands.execute(CommandIDs.launch, { id: 'xterm', version: '1' })).toBeUndefined();
    const refusal =
      'XTerm 1 could not be started: This session already runs or starts 1 app, the most it may; close one first.';
    expect(h.apps.notice).toBe(refusal);
    expect(launched).toHaveBeenLastCalledWith(expect.objectContaining({ error: refusal }));

    // An id not in the catalog still goes to the service, whose words say why.
    h.server.answers['POST apps'] = [
      404,
      { code: 'unknown_app', message: 'There is no app "no-such-app" in the catalog.' }
    ];
    await h.commands.execute(CommandIDs.launch, { id: 'no-such-app', version: '' });
    expect(h.apps.notice).toBe('no-such-app could not be started: There is no app "no-such-app" in the catalog.');
  });

  it('reads refreshInterval, at least 1 s, and follows its changes', async () => {
    const h = await load([appsPlugin], { user: { [PluginIDs.apps]: { refreshInterval: 30 } } });
    expect(h.apps.refreshInterval).toBe(30);
    const registry = (await h.app.resolveRequiredService(ISettingRegistry)) as ISettingRegistry;
    await registry.set(PluginIDs.apps, 'refreshInterval', 1);
    expect(h.apps.refreshInterval).toBe(1);
  });

  it('works without a setting registry, and says when the catalog cannot be loaded', async () => {
    const server = new FakeServer();
    server.answers['GET catalog'] = [502, 'Bad gateway'];
    const h = await load([appsPlugin], { server, settings: false });
    expect(h.apps.refreshInterval).toBe(5);
    expect(h.apps.catalog).toEqual([]);
    expect(h.apps.notice).toBe('The app catalog could not be loaded: Bad gateway');
  });

  it('polls every second while an app starts, at refreshInterval otherwise', async () => {
    jest.useFakeTimers();
    try {
      const server = new FakeServer();
      server.apps = [{ id: 'app-1', app: 'xterm', version: '1', status: 'starting' }];
      const h = await load([appsPlugin], { server, user: { [PluginIDs.apps]: { refreshInterval: 60 } } });
      const lists = () => h.server.requests.filter(r => r === 'GET apps').length;
      const before = lists();
      await jest.advanceTimersByTimeAsync(1000);
      expect(lists()).toBe(before + 1);
      server.apps[0].status = 'running';
      await jest.advanceTimersByTimeAsync(1000);
      const settled = lists();
      await jest.advanceTimersByTimeAsync(30_000);
      expect(lists()).toBe(settled);
      await jest.advanceTimersByTimeAsync(30_000);
      expect(lists()).toBe(settled + 1);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('the launcher plugin', () => {
  it('adds a tile and a palette entry per catalog app and version, by category, and follows the catalog', async () => {
    const h = await load([appsPlugin, launcherPlugin]);
    expect(tiles(h)).toEqual(['System | XTerm 1', 'Testing | Broken 1']);
    expect(h.palette()).toContain('kubedesk: System | XTerm 1');

    h.server.catalog = [itksnap('3.8.0'), itksnap('4.2.2'), xterm];
    await h.commands.execute(CommandIDs.refresh);
    expect(tiles(h)).toEqual(['System | XTerm 1', 'Visualization | ITK-SNAP 4.2.2', 'Visualization | ITK-SNAP 3.8.0']);
    expect(h.palette()).not.toContain('kubedesk: Testing | Broken 1');

    // A catalog that cannot be loaded leaves the tiles as they were.
    h.server.answers['GET catalog'] = [500, { code: 'internal', message: 'The agent failed.' }];
    await h.commands.execute(CommandIDs.refresh);
    expect(tiles(h)).toHaveLength(3);
  });

  it('a tile launches its app', async () => {
    const h = await load([appsPlugin, launcherPlugin]);
    const [tile] = [...h.launcher.items()];
    await h.commands.execute(tile.command, tile.args);
    expect(h.apps.apps).toEqual([expect.objectContaining({ app: 'xterm', version: '1' })]);
  });

  it('shows no tiles when launcherTiles is off, and follows the setting', async () => {
    const h = await load([appsPlugin, launcherPlugin], { user: { [PluginIDs.launcher]: { launcherTiles: false } } });
    expect(tiles(h)).toEqual([]);
    expect(h.palette()).toContain('kubedesk: System | XTerm 1');
    const registry = (await h.app.resolveRequiredService(ISettingRegistry)) as ISettingRegistry;
    await registry.set(PluginIDs.launcher, 'launcherTiles', true);
    expect(tiles(h)).toHaveLength(2);
  });

  it('honours launcherTiles where it was before the split, unless set in its own settings', async () => {
    const legacy = await load([appsPlugin, launcherPlugin], {
      user: { [PluginIDs.apps]: { launcherTiles: false, refreshInterval: 7 } }
    });
    expect(tiles(legacy)).toEqual([]);
    expect(legacy.apps.refreshInterval).toBe(7); // the old settings still validate
    const own = await load([appsPlugin, launcherPlugin], {
      user: { [PluginIDs.apps]: { launcherTiles: false }, [PluginIDs.launcher]: { launcherTiles: true } }
    });
    expect(tiles(own)).toHaveLength(2);
  });
});

describe('the running-apps plugin', () => {
  const load3 = (server?: FakeServer) => load([appsPlugin, appViewPlugin, runningAppsPlugin], { server });

  it('adds the Running apps panel to the left side bar, with the command that shows it', async () => {
    const h = await load3();
    expect(document.querySelector('.jp-SideBar .lm-TabBar-tab[data-id="kubedesk-running-apps"]')).not.toBeNull();
    expect(panel()!.textContent).toContain('No apps are running.');
    expect(h.palette()).toContain('kubedesk | Show Running Apps');
    h.shell.collapseLeft();
    await h.commands.execute(CommandIDs.showRunning);
    expect(h.shell.leftCollapsed).toBe(false);
  });

  it('lists the apps the model lists, and an app that failed with its message', async () => {
    const server = new FakeServer();
    server.apps = [
      { id: 'app-1', app: 'xterm', version: '1', status: 'running' },
      {
        id: 'app-2',
        app: 'broken',
        version: '1',
        status: 'failed',
        message: 'The app could not start: ErrImagePull kubedesk/no-such-image:1'
      }
    ];
    const h = await load3(server);
    expect(item('app-1')!.querySelector('.kd-RunningApps-name')!.textContent).toBe('XTerm 1');
    expect(item('app-1')!.querySelector('.kd-RunningApps-status')!.textContent).toBe('Running');
    expect(item('app-2')!.className).toContain('kd-mod-failed');
    expect(item('app-2')!.querySelector('.kd-RunningApps-status')!.textContent).toBe(
      'Failed: The app could not start: ErrImagePull kubedesk/no-such-image:1'
    );

    server.apps = [];
    await h.apps.refresh();
    expect(item('app-1')!.textContent).toContain('Ended: Its pod is gone');
  });

  it('shows a refused launch in words and comes forward with it', async () => {
    const h = await load3();
    h.shell.collapseLeft();
    h.server.answers['POST apps'] = [
      429,
      { code: 'quota', message: 'This session already runs or starts 1 app, the most it may; close one first.' }
    ];
    await h.commands.execute(CommandIDs.launch, { id: 'xterm', version: '1' });
    expect(notice().hidden).toBe(false);
    expect(notice().querySelector('span')!.textContent).toBe(
      'XTerm 1 could not be started: This session already runs or starts 1 app, the most it may; close one first.'
    );
    expect(h.shell.leftCollapsed).toBe(false);
    delete h.server.answers['POST apps'];
    await h.commands.execute(CommandIDs.launch, { id: 'xterm', version: '1' });
    expect(notice().hidden).toBe(true);
  });

  it('Open in tab, Show on desktop and Stop do what they say', async () => {
    const server = new FakeServer();
    server.apps = [{ id: 'app-1', app: 'xterm', version: '1', status: 'running' }];
    const h = await load3(server);
    const opened = jest.spyOn(window, 'open').mockReturnValue(null);

    button('app-1', 'Open in tab').click();
    expect(document.querySelector('#kubedesk-view-app-1 iframe')).not.toBeNull();
    button('app-1', 'Show on desktop').click();
    expect(document.getElementById('kubedesk-view-app-1')).toBeNull();
    expect(opened).toHaveBeenCalledWith('http://localhost/desktop/', 'kubedesk-desktop');

    button('app-1', 'Open in tab').click();
    button('app-1', 'Stop').click();
    await flush();
    await h.apps.refresh();
    expect(h.server.requests).toContain('DELETE apps/app-1');
    expect(document.getElementById('kubedesk-view-app-1')).toBeNull();
    expect(item('app-1')!.querySelector('.kd-RunningApps-status')!.textContent).toBe('Ended: Stopped');
  });

  it('says when an app could not be stopped', async () => {
    const server = new FakeServer();
    server.apps = [{ id: 'app-1', app: 'xterm', version: '1', status: 'running' }];
    server.answers['DELETE apps/app-1'] = [
      502,
      { code: 'agent_unreachable', message: 'The launcher agent does not answer.' }
    ];
    const h = await load3(server);
    await h.apps.stop(h.apps.apps[0]);
    expect(notice().textContent).toContain('XTerm 1 could not be stopped: The launcher agent does not answer.');
  });
});

describe('the app-view plugin', () => {
  it("opens an app's window in one tab, titled by the catalog's name, and the notebook's command opens it too", async () => {
    const server = new FakeServer();
    server.apps = [{ id: 'app-1', app: 'xterm', version: '1', status: 'running' }];
    const h = await load([appsPlugin, appViewPlugin], { server });
    await h.commands.execute(CommandIDs.openView, { id: 'app-1' });
    const tab = document.getElementById('kubedesk-view-app-1')!;
    expect(tab.querySelector('iframe')!.getAttribute('src')).toBe('http://localhost/kubedesk/apps/app-1/view/');
    expect(tab.querySelector('iframe')!.getAttribute('sandbox')).toContain('allow-scripts');
    const widget = [...h.shell.widgets('main')].find(w => w.id === 'kubedesk-view-app-1')!;
    expect(widget.title.label).toBe('XTerm 1');
    expect(widget.title.caption).toBe('XTerm 1 (kubedesk app app-1)');

    await h.commands.execute(CommandIDs.openView, { id: 'app-1' });
    expect(document.querySelectorAll('#kubedesk-view-app-1')).toHaveLength(1);

    await expect(h.commands.execute(CommandIDs.openView, { id: 'gone' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('the open-with plugin', () => {
  /** The labels of the file browser's context menu on a file, as a right click opens it. */
  function contextMenu(h: IHarness, names: string[]): string[] {
    h.selected.splice(0, h.selected.length, ...names.map(path => ({ path, type: 'file' })));
    const listing = document.createElement('ul');
    const li = document.createElement('li');
    li.className = 'jp-DirListing-item';
    li.dataset.isdir = 'false';
    listing.append(li);
    document.body.append(listing);
    const menu = (h.app as unknown as JupyterFrontEnd).contextMenu as unknown as {
      open(e: MouseEvent): boolean;
      menu: { items: readonly { isVisible: boolean; label: string }[]; close(): void };
    };
    // As JupyterLab does: the document's contextmenu listener opens the menu.
    document.body.addEventListener('contextmenu', e => menu.open(e), { once: true });
    li.dispatchEvent(new MouseEvent('contextmenu', { bubbles: true, clientX: 1, clientY: 1 }));
    const labels = menu.menu.items.filter(i => i.isVisible).map(i => i.label);
    menu.menu.close();
    listing.remove();
    return labels;
  }

  it('offers Open with <app> on the files an app opens, and launches it on them', async () => {
    const server = new FakeServer();
    server.catalog = [xterm, broken, itksnap('3.8.0'), itksnap('4.2.2')];
    const h = await load([appsPlugin, openWithPlugin], { server });
    expect(contextMenu(h, ['notes.txt'])).toEqual(['Open with Broken']);
    expect(contextMenu(h, ['brain.nii.gz'])).toEqual(['Open with ITK-SNAP']);
    expect(contextMenu(h, ['notes.txt', 'brain.nii.gz'])).toEqual([]);

    h.selected.splice(0, h.selected.length, { path: 'data/brain.nii.gz', type: 'file' });
    await h.commands.execute(CommandIDs.openWith, { id: 'itksnap' });
    expect(h.apps.apps).toEqual([expect.objectContaining({ app: 'itksnap', version: '4.2.2' })]);
  });

  it('follows the catalog', async () => {
    const h = await load([appsPlugin, openWithPlugin]);
    expect(contextMenu(h, ['notes.txt'])).toEqual(['Open with Broken']);
    h.server.catalog = [xterm];
    await h.apps.loadCatalog();
    expect(contextMenu(h, ['notes.txt'])).toEqual([]);
  });
});
