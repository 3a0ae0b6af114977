import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IFrame, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { kubedeskIcon } from '../icons';
import { IRunningApp } from '../model';
import { CommandIDs, IKubedeskAppViews, IKubedeskApps, PluginIDs, commandArgs } from '../tokens';

/** The app's window in the browser: the server extension's view route under the server's base URL. */
export function viewURL(baseUrl: string, id: string): string {
  return URLExt.join(baseUrl, 'kubedesk', 'apps', encodeURIComponent(id), 'view') + '/';
}

/** The id of the app's tab (the end-to-end test finds the tab by it). */
export function viewID(id: string): string {
  return `kubedesk-view-${id}`;
}

/**
 * An app's window in a JupyterLab tab: the Xpra HTML5 client, through the
 * server extension, in an iframe. One tab per app; a stop through the
 * model closes it. The command is what a notebook's "Open in a JupyterLab
 * tab" button runs (kubedesk_jupyterlab's rich display).
 */
export const appViewPlugin: JupyterFrontEndPlugin<IKubedeskAppViews> = {
  id: PluginIDs.appView,
  description: "A kubedesk app's window in a JupyterLab tab.",
  autoStart: true,
  requires: [IKubedeskApps, ILabShell],
  provides: IKubedeskAppViews,
  activate: (app: JupyterFrontEnd, apps: IKubedeskApps, shell: ILabShell): IKubedeskAppViews => {
    const serverSettings = ServerConnection.makeSettings();
    const tracker = new WidgetTracker<MainAreaWidget<IFrame>>({ namespace: 'kubedesk-view' });

    const open = (a: IRunningApp) => {
      const existing = tracker.find(w => w.id === viewID(a.id));
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
      const label = apps.label(a);
      widget.id = viewID(a.id);
      widget.title.label = label;
      widget.title.caption = `${label} (kubedesk app ${a.id})`;
      widget.title.icon = kubedeskIcon;
      widget.title.closable = true;
      widget.addClass('kd-AppView');
      void tracker.add(widget);
      shell.add(widget, 'main');
      shell.activateById(widget.id);
    };

    const close = (id: string) => {
      tracker.forEach(w => {
        if (w.id === viewID(id)) {
          w.close();
        }
      });
    };

    apps.stopped.connect((_, a) => close(a.id));

    app.commands.addCommand(CommandIDs.openView, {
      describedBy: commandArgs({
        id: { type: 'string', description: 'The running app, as the Running apps panel lists it' }
      }),
      label: 'Open App in a Tab',
      execute: async args => open(await apps.get(args.id as string))
    });
    return { open, close };
  }
};
