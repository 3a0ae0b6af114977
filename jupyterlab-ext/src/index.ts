import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  ICommandPalette,
  IFrame,
  InputDialog,
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

// The API client and the Running apps panel are both used at once: activation
// adds the panel and loads the catalog for the Launcher's tiles.
// eslint-disable-next-line jupyter/prefer-lazy-imports -- activation needs it at once (above)
import { KubedeskAPI, errorMessage } from './api';
import { appIconSvg, kubedeskIconSvg } from './icons';
import { ICatalogApp, IRunningApp, appsForFiles, displayName, groupByCategory, newestVersions } from './model';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- activation needs it at once (above)
import { RunningAppsPanel } from './panel';

const PLUGIN_ID = '@kubedesk/jupyterlab:plugin';

/** Every command of the extension. */
namespace CommandIDs {
  export const launch = 'kubedesk:launch';
  export const launchByName = 'kubedesk:launch-by-name';
  export const openWith = 'kubedesk:open-with';
  export const openView = 'kubedesk:open-view';
  export const showRunning = 'kubedesk:show-running';
  export const refresh = 'kubedesk:refresh-catalog';
}

const kubedeskIcon = new LabIcon({ name: 'kubedesk:logo', svgstr: kubedeskIconSvg });

/** One icon per app: its own when the catalog gives a URL, else its initial. */
function iconFor(app: ICatalogApp): LabIcon {
  return new LabIcon({ name: `kubedesk:app-${app.id}`, svgstr: appIconSvg(displayName(app), app.icon) });
}

/** The app's window in the browser: the server extension's view route. */
function viewURL(baseUrl: string, id: string): string {
  return URLExt.join(baseUrl, 'kubedesk', 'apps', encodeURIComponent(id), 'view') + '/';
}

/** A command's arguments, for describedBy: JSON Schema properties. */
function commandArgs(properties: Record<string, { type: string; description: string; items?: { type: string } }>) {
  return { args: { type: 'object', properties } };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'kubedesk apps in JupyterLab: Launcher tiles, a Running apps panel, app windows in tabs, Open with on files.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ILauncher, ICommandPalette, IFileBrowserFactory, ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    shell: ILabShell,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    browsers: IFileBrowserFactory | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const serverSettings = ServerConnection.makeSettings();
    const api = new KubedeskAPI((path, init) =>
      ServerConnection.makeRequest(URLExt.join(serverSettings.baseUrl, path), init, serverSettings)
    );
    let refreshSeconds = 5;
    let launcherTiles = true;
    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PLUGIN_ID);
        const read = () => {
          refreshSeconds = Math.max(1, settings.get('refreshInterval').composite as number);
          launcherTiles = settings.get('launcherTiles').composite as boolean;
        };
        read();
        settings.changed.connect(read);
      } catch (e) {
        console.warn('kubedesk: settings not loaded, using the defaults', e);
      }
    }

    let catalog: ICatalogApp[] = [];
    const views = new WidgetTracker<MainAreaWidget<IFrame>>({ namespace: 'kubedesk-view' });

    // --- the Running apps panel ------------------------------------------
    let refreshing: Promise<void> | null = null;
    const refresh = (): Promise<void> => {
      refreshing ??= api
        .list()
        .then(apps => panel.setApps(apps))
        .catch(e => panel.setNotice(`The list of apps could not be loaded: ${errorMessage(e)}`))
        .finally(() => (refreshing = null));
      return refreshing;
    };

    const label = (a: { app: string; version: string }) => {
      const c = catalog.find(c => c.id === a.app && c.version === a.version);
      return `${c ? displayName(c) : a.app} ${a.version}`.trim();
    };

    const openView = (a: { id: string; app: string; version: string }) => {
      const existing = views.find(w => w.id === `kubedesk-view-${a.id}`);
      if (existing) {
        shell.activateById(existing.id);
        return;
      }
      const frame = new IFrame({
        // The Xpra HTML5 client runs scripts, opens a websocket to its own
        // origin (this server) and may offer downloads.
        sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms', 'allow-downloads', 'allow-popups'],
        referrerPolicy: 'same-origin'
      });
      frame.url = viewURL(serverSettings.baseUrl, a.id);
      const widget = new MainAreaWidget({ content: frame });
      widget.id = `kubedesk-view-${a.id}`;
      widget.title.label = label(a);
      widget.title.caption = `${label(a)} (kubedesk app ${a.id})`;
      widget.title.icon = kubedeskIcon;
      widget.title.closable = true;
      widget.addClass('kd-AppView');
      void views.add(widget);
      shell.add(widget, 'main');
      shell.activateById(widget.id);
    };

    const closeViews = (id: string) => {
      views.forEach(w => {
        if (w.id === `kubedesk-view-${id}`) {
          w.close();
        }
      });
    };

    const panel: RunningAppsPanel = new RunningAppsPanel({
      label,
      open: openView,
      showOnDesktop: a => {
        // The agent attaches every running app to the desktop, but waits
        // while a browser view has the app (Xpra gives an app to one client
        // at a time): closing the views hands the window back to the desktop.
        closeViews(a.id);
        window.open(URLExt.join(serverSettings.baseUrl, 'desktop') + '/', 'kubedesk-desktop');
      },
      stop: async a => {
        try {
          await api.stop(a.id);
          closeViews(a.id);
        } catch (e) {
          panel.setNotice(`${label(a)} could not be stopped: ${errorMessage(e)}`);
        }
        await refresh();
      },
      refresh
    });
    panel.title.icon = kubedeskIcon;
    shell.add(panel, 'left', { rank: 450 });

    // Poll quickly while an app starts, slowly otherwise, and not at all
    // while the page is hidden.
    const poll = async () => {
      if (!document.hidden) {
        await refresh();
      }
      const starting = panel.shown.some(a => a.status === 'starting' || a.status === 'stopping');
      window.setTimeout(poll, (starting ? 1 : refreshSeconds) * 1000);
    };
    void poll();

    const launch = async (a: ICatalogApp, files: string[] = []): Promise<IRunningApp | undefined> => {
      panel.setNotice('');
      try {
        const started = await api.launch(a.id, a.version, files);
        shell.activateById(panel.id);
        await refresh();
        return started;
      } catch (e) {
        const msg = `${`${displayName(a)} ${a.version}`.trim()} could not be started: ${errorMessage(e)}`;
        panel.setNotice(msg);
        shell.activateById(panel.id);
        Notification.error(msg, { autoClose: 10000 });
        return undefined;
      }
    };

    // --- commands -----------------------------------------------------------
    const find = (id: string, version?: string): ICatalogApp | undefined =>
      version
        ? catalog.find(a => a.id === id && a.version === version)
        : newestVersions(catalog).find(a => a.id === id);

    app.commands.addCommand(CommandIDs.launch, {
      describedBy: commandArgs({
        id: { type: 'string', description: "The app's id in the catalog, e.g. itksnap" },
        version: { type: 'string', description: 'The version to start; the newest when empty' },
        files: { type: 'array', items: { type: 'string' }, description: 'Files to open, relative to the server root' }
      }),
      label: args => {
        const a = find(args.id as string, args.version as string);
        return a ? `${displayName(a)} ${a.version}` : `Launch ${args.id ?? 'an app'}`;
      },
      caption: args => find(args.id as string, args.version as string)?.description ?? 'Start this app in its own pod',
      icon: args => {
        const a = find(args.id as string, args.version as string);
        return a ? iconFor(a) : kubedeskIcon;
      },
      execute: async args => {
        const id = args.id as string;
        const a = find(id, args.version as string) ?? { id, name: id, version: (args.version as string) ?? '' };
        // An app not in the catalog still goes to the service, whose
        // refusal ("unknown app") is the message a person then reads.
        return launch(a, (args.files as string[]) ?? []);
      }
    });

    app.commands.addCommand(CommandIDs.launchByName, {
      describedBy: commandArgs({}),
      label: 'Launch App by Name…',
      caption: 'Start an app of the catalog by its id, optionally with a version: "itksnap" or "itksnap 4.2.2"',
      icon: kubedeskIcon,
      execute: async () => {
        const answer = await InputDialog.getText({
          title: 'Launch an app',
          label: 'App id, and a version if not the newest',
          placeholder: newestVersions(catalog)[0]?.id ?? 'itksnap'
        });
        const [id, version = ''] = (answer.value ?? '').trim().split(/\s+/);
        if (!answer.button.accept || !id) {
          return;
        }
        return app.commands.execute(CommandIDs.launch, { id, version });
      }
    });

    const selectedFiles = (): { path: string; mimetype?: string }[] => {
      const browser = browsers?.tracker.currentWidget;
      if (!browser) {
        return [];
      }
      return [...browser.selectedItems()]
        .filter(i => i.type !== 'directory')
        .map(i => ({ path: i.path, mimetype: i.mimetype }));
    };

    app.commands.addCommand(CommandIDs.openWith, {
      describedBy: commandArgs({
        id: { type: 'string', description: "The app's id in the catalog; it opens the file browser's selection" }
      }),
      label: args => `Open with ${find(args.id as string) ? displayName(find(args.id as string)!) : args.id}`,
      icon: args => {
        const a = find(args.id as string);
        return a ? iconFor(a) : kubedeskIcon;
      },
      isVisible: args => appsForFiles(catalog, selectedFiles()).some(a => a.id === args.id),
      execute: args => {
        const a = find(args.id as string);
        if (!a) {
          return;
        }
        return launch(
          a,
          selectedFiles().map(f => f.path)
        );
      }
    });

    app.commands.addCommand(CommandIDs.openView, {
      describedBy: commandArgs({
        id: { type: 'string', description: 'The running app, as the Running apps panel lists it' }
      }),
      label: 'Open App in a Tab',
      execute: async args => {
        const a = await api.get(args.id as string);
        openView(a);
      }
    });

    app.commands.addCommand(CommandIDs.showRunning, {
      describedBy: commandArgs({}),
      label: 'Show Running Apps',
      icon: kubedeskIcon,
      execute: () => shell.activateById(panel.id)
    });

    // --- the catalog: Launcher tiles, palette and Open with -----------------
    const registered: { dispose(): void }[] = [];
    const loadCatalog = async () => {
      try {
        catalog = await api.catalog();
      } catch (e) {
        panel.setNotice(`The app catalog could not be loaded: ${errorMessage(e)}`);
        return;
      }
      registered.splice(0).forEach(d => d.dispose());
      let rank = 0;
      for (const [category, apps] of groupByCategory(catalog)) {
        for (const a of apps) {
          const args = { id: a.id, version: a.version };
          if (launcher && launcherTiles) {
            registered.push(launcher.add({ command: CommandIDs.launch, args, category, rank: rank++ }));
          }
          if (palette) {
            registered.push(palette.addItem({ command: CommandIDs.launch, args, category: `kubedesk: ${category}` }));
          }
        }
      }
      for (const a of newestVersions(catalog)) {
        if (a.file_types?.length) {
          registered.push(
            app.contextMenu.addItem({
              command: CommandIDs.openWith,
              args: { id: a.id },
              selector: '.jp-DirListing-item[data-isdir="false"]',
              rank: 3
            })
          );
        }
      }
    };

    app.commands.addCommand(CommandIDs.refresh, {
      describedBy: commandArgs({}),
      label: 'Reload the App Catalog',
      execute: loadCatalog
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.showRunning, category: 'kubedesk' });
      palette.addItem({ command: CommandIDs.launchByName, category: 'kubedesk' });
      palette.addItem({ command: CommandIDs.refresh, category: 'kubedesk' });
    }
    await loadCatalog();
  }
};

export default plugin;
