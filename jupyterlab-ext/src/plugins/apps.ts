import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

// The model and its API client are needed at once: every other plugin
// requires the model, and activation loads the catalog.
// eslint-disable-next-line jupyter/prefer-lazy-imports -- activation needs it at once (above)
import { KubedeskAPI } from '../api';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- activation needs it at once (above)
import { KubedeskApps } from '../apps';
import { iconFor, kubedeskIcon } from '../icons';
import { ICatalogApp, displayName, newestVersions } from '../model';
import { CommandIDs, IKubedeskApps, PluginIDs, commandArgs } from '../tokens';

/**
 * The core plugin: the apps model every other plugin consumes, and the
 * commands that launch an app (run by the Launcher's tiles, the command
 * palette and "Launch App by Name…").
 *
 * Settings (schema/plugin.json): refreshInterval.
 */
export const appsPlugin: JupyterFrontEndPlugin<IKubedeskApps> = {
  id: PluginIDs.apps,
  description: 'The kubedesk apps of this session: the catalog, the running apps, launch and stop.',
  autoStart: true,
  provides: IKubedeskApps,
  optional: [ICommandPalette, ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null
  ): Promise<IKubedeskApps> => {
    const serverSettings = ServerConnection.makeSettings();
    const apps = new KubedeskApps(
      new KubedeskAPI((path, init) =>
        ServerConnection.makeRequest(URLExt.join(serverSettings.baseUrl, path), init, serverSettings)
      )
    );
    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PluginIDs.apps);
        const read = () => {
          apps.refreshInterval = Math.max(1, settings.get('refreshInterval').composite as number);
        };
        read();
        settings.changed.connect(read);
      } catch (e) {
        console.warn('kubedesk: settings not loaded, using the defaults', e);
      }
    }
    apps.launched.connect((_, { error }) => {
      if (error) {
        Notification.error(error, { autoClose: 10000 });
      }
    });

    app.commands.addCommand(CommandIDs.launch, {
      describedBy: commandArgs({
        id: { type: 'string', description: "The app's id in the catalog, e.g. itksnap" },
        version: { type: 'string', description: 'The version to start; the newest when empty' },
        files: { type: 'array', items: { type: 'string' }, description: 'Files to open, relative to the server root' }
      }),
      label: args => {
        const a = apps.find(args.id as string, args.version as string);
        return a ? `${displayName(a)} ${a.version}` : `Launch ${args.id ?? 'an app'}`;
      },
      caption: args =>
        apps.find(args.id as string, args.version as string)?.description ?? 'Start this app in its own pod',
      icon: args => {
        const a = apps.find(args.id as string, args.version as string);
        return a ? iconFor(a) : kubedeskIcon;
      },
      execute: async args => {
        const id = args.id as string;
        const a: ICatalogApp = apps.find(id, args.version as string) ?? {
          id,
          name: id,
          version: (args.version as string) ?? ''
        };
        // An app not in the catalog still goes to the service, whose
        // refusal ("unknown app") is the message a person then reads.
        return apps.launch(a, (args.files as string[]) ?? []);
      }
    });

    app.commands.addCommand(CommandIDs.launchByName, {
      describedBy: commandArgs(),
      label: 'Launch App by Name…',
      caption: 'Start an app of the catalog by its id, optionally with a version: "itksnap" or "itksnap 4.2.2"',
      icon: kubedeskIcon,
      execute: async () => {
        const answer = await InputDialog.getText({
          title: 'Launch an app',
          label: 'App id, and a version if not the newest',
          placeholder: newestVersions(apps.catalog)[0]?.id ?? 'itksnap'
        });
        const [id, version = ''] = (answer.value ?? '').trim().split(/\s+/);
        if (!answer.button.accept || !id) {
          return;
        }
        return app.commands.execute(CommandIDs.launch, { id, version });
      }
    });

    app.commands.addCommand(CommandIDs.refresh, {
      describedBy: commandArgs(),
      label: 'Reload the App Catalog',
      execute: () => apps.loadCatalog()
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.launchByName, category: 'kubedesk' });
      palette.addItem({ command: CommandIDs.refresh, category: 'kubedesk' });
    }

    apps.startPolling();
    // The other plugins follow catalogChanged: none waits for the catalog.
    void apps.loadCatalog();
    return apps;
  }
};
