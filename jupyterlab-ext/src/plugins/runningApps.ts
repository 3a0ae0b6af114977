import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { kubedeskIcon } from '../icons';
// The panel is added to the shell at activation.
// eslint-disable-next-line jupyter/prefer-lazy-imports -- activation needs it at once (above)
import { RunningAppsPanel } from '../panel';
import { CommandIDs, IKubedeskAppViews, IKubedeskApps, PluginIDs, commandArgs } from '../tokens';

/** The session's desktop (noVNC), which the Jupyter server serves at <base url>desktop/. */
export function desktopURL(baseUrl: string): string {
  return URLExt.join(baseUrl, 'desktop') + '/';
}

/**
 * The Running apps side panel: the session's apps as the model lists them,
 * the model's notices, and "Open in tab", "Show on desktop", "Stop". It
 * comes forward whenever a launch is answered.
 */
export const runningAppsPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.runningApps,
  description: 'The Running apps panel: the kubedesk apps of this session, their status, and what to do with each.',
  autoStart: true,
  requires: [IKubedeskApps, IKubedeskAppViews, ILabShell],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    apps: IKubedeskApps,
    views: IKubedeskAppViews,
    shell: ILabShell,
    palette: ICommandPalette | null
  ): void => {
    const serverSettings = ServerConnection.makeSettings();
    const panel = new RunningAppsPanel({
      label: a => apps.label(a),
      open: a => views.open(a),
      showOnDesktop: a => {
        // The agent attaches every running app to the desktop, but waits
        // while a browser view has the app (Xpra gives an app to one client
        // at a time): closing the views hands the window back to the desktop.
        views.close(a.id);
        window.open(desktopURL(serverSettings.baseUrl), 'kubedesk-desktop');
      },
      stop: a => apps.stop(a),
      refresh: () => apps.refresh()
    });
    panel.title.icon = kubedeskIcon;
    shell.add(panel, 'left', { rank: 450 });

    if (apps.apps.length) {
      panel.setApps(apps.apps);
    }
    if (apps.notice) {
      panel.setNotice(apps.notice);
    }
    apps.appsChanged.connect((_, list) => panel.setApps(list));
    apps.noticeChanged.connect((_, text) => panel.setNotice(text));
    // A launch's answer, the new app or the refusal, shows in the panel.
    apps.launched.connect(() => shell.activateById(panel.id));

    app.commands.addCommand(CommandIDs.showRunning, {
      describedBy: commandArgs(),
      label: 'Show Running Apps',
      icon: kubedeskIcon,
      execute: () => shell.activateById(panel.id)
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.showRunning, category: 'kubedesk' });
    }
  }
};
