import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IDisposable } from '@lumino/disposable';

import { groupByCategory } from '../model';
import { CommandIDs, IKubedeskApps, PluginIDs } from '../tokens';

/**
 * A Launcher tile and a command palette entry ("kubedesk: <category>") for
 * every version of every app of the catalog, by category, as on the
 * desktop's Applications menu; made again whenever the catalog is.
 *
 * Settings (schema/launcher.json): launcherTiles.
 */
export const launcherPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.launcher,
  description: 'A Launcher tile and a command palette entry for every app of the kubedesk catalog.',
  autoStart: true,
  requires: [IKubedeskApps],
  optional: [ILauncher, ICommandPalette, ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    apps: IKubedeskApps,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null
  ): Promise<void> => {
    let tiles = true;
    const registered: IDisposable[] = [];
    const render = () => {
      registered.splice(0).forEach(d => d.dispose());
      let rank = 0;
      for (const [category, list] of groupByCategory(apps.catalog)) {
        for (const a of list) {
          const args = { id: a.id, version: a.version };
          if (launcher && tiles) {
            registered.push(launcher.add({ command: CommandIDs.launch, args, category, rank: rank++ }));
          }
          if (palette) {
            registered.push(palette.addItem({ command: CommandIDs.launch, args, category: `kubedesk: ${category}` }));
          }
        }
      }
    };

    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PluginIDs.launcher);
        // launcherTiles was a setting of the extension's single plugin,
        // whose id the apps plugin kept: a value set there still counts.
        const legacy = await settingRegistry.load(PluginIDs.apps).catch(() => null);
        const read = () => {
          tiles = launcherTiles(settings, legacy);
        };
        read();
        const changed = () => {
          read();
          render();
        };
        settings.changed.connect(changed);
        legacy?.changed.connect(changed);
      } catch (e) {
        console.warn('kubedesk: launcher settings not loaded, using the defaults', e);
      }
    }
    apps.catalogChanged.connect(render);
    render();
  }
};

/**
 * Whether to show tiles: this plugin's launcherTiles when the person set
 * it, else the one they set, or an operator's override gave, under the
 * apps plugin (where the key was before the plugins were split), else this
 * plugin's default.
 */
export function launcherTiles(
  settings: ISettingRegistry.ISettings,
  legacy: ISettingRegistry.ISettings | null
): boolean {
  const own = settings.user.launcherTiles;
  if (typeof own === 'boolean') {
    return own;
  }
  const old = legacy?.composite.launcherTiles;
  if (typeof old === 'boolean') {
    return old;
  }
  return settings.composite.launcherTiles !== false;
}
