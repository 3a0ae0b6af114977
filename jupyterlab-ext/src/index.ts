/**
 * kubedesk's apps in JupyterLab, as small plugins around one apps model:
 *
 *   @kubedesk/jupyterlab:plugin        the apps model (IKubedeskApps) and the launch commands
 *   @kubedesk/jupyterlab:app-view      an app's window in a tab (IKubedeskAppViews)
 *   @kubedesk/jupyterlab:launcher      Launcher tiles and palette entries for the catalog
 *   @kubedesk/jupyterlab:running-apps  the Running apps side panel
 *   @kubedesk/jupyterlab:open-with     Open with <app> in the file browser
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { appViewPlugin } from './plugins/appView';
import { appsPlugin } from './plugins/apps';
import { launcherPlugin } from './plugins/launcher';
import { openWithPlugin } from './plugins/openWith';
import { runningAppsPlugin } from './plugins/runningApps';

export { CommandIDs, IKubedeskAppViews, IKubedeskApps, PluginIDs } from './tokens';
export type { ILaunchResult } from './tokens';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  appsPlugin,
  appViewPlugin,
  launcherPlugin,
  runningAppsPlugin,
  openWithPlugin
];

export default plugins;
