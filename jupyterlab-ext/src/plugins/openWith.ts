import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IDisposable } from '@lumino/disposable';

import { iconFor, kubedeskIcon } from '../icons';
import { appsForFiles, displayName, newestVersions } from '../model';
import { CommandIDs, IKubedeskApps, PluginIDs, commandArgs } from '../tokens';

/**
 * "Open with <app>" in the file browser's context menu, for the newest
 * version of every app whose catalog entry declares file_types, shown on
 * the files that app opens; made again whenever the catalog is.
 */
export const openWithPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.openWith,
  description: 'Open with <app> in the file browser, for the kubedesk apps that open those files.',
  autoStart: true,
  requires: [IKubedeskApps],
  optional: [IFileBrowserFactory],
  activate: (app: JupyterFrontEnd, apps: IKubedeskApps, browsers: IFileBrowserFactory | null): void => {
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
      label: args => {
        const a = apps.find(args.id as string);
        return `Open with ${a ? displayName(a) : args.id}`;
      },
      icon: args => {
        const a = apps.find(args.id as string);
        return a ? iconFor(a) : kubedeskIcon;
      },
      isVisible: args => appsForFiles(apps.catalog, selectedFiles()).some(a => a.id === args.id),
      execute: args => {
        const a = apps.find(args.id as string);
        if (!a) {
          return;
        }
        return apps.launch(
          a,
          selectedFiles().map(f => f.path)
        );
      }
    });

    const registered: IDisposable[] = [];
    const render = () => {
      registered.splice(0).forEach(d => d.dispose());
      for (const a of newestVersions(apps.catalog)) {
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
    apps.catalogChanged.connect(render);
    render();
  }
};
