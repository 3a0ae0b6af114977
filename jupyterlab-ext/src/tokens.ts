/**
 * What the extension's plugins share: the tokens of the services one
 * provides and the others consume, and every command id.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import { ICatalogApp, IRunningApp } from './model';

/** Every command of the extension (`kubedesk:open-view` is also run from notebooks' output). */
export namespace CommandIDs {
  export const launch = 'kubedesk:launch';
  export const launchByName = 'kubedesk:launch-by-name';
  export const openWith = 'kubedesk:open-with';
  export const openView = 'kubedesk:open-view';
  export const showRunning = 'kubedesk:show-running';
  export const refresh = 'kubedesk:refresh-catalog';
}

/** A command's arguments as JSON Schema properties, for its describedBy. */
export function commandArgs(
  properties: Record<string, { type: string; description: string; items?: { type: string } }> = {}
) {
  return { args: { type: 'object', properties } };
}

/** Plugin ids; a plugin with settings has its schema at schema/<part after the colon>.json. */
export namespace PluginIDs {
  /** The apps model; its id is the one the extension's single plugin had, so its settings stay. */
  export const apps = '@kubedesk/jupyterlab:plugin';
  export const launcher = '@kubedesk/jupyterlab:launcher';
  export const runningApps = '@kubedesk/jupyterlab:running-apps';
  export const openWith = '@kubedesk/jupyterlab:open-with';
  export const appView = '@kubedesk/jupyterlab:app-view';
}

/** How a launch went: the app the service started, or the sentence that says why not. */
export interface ILaunchResult {
  app: ICatalogApp;
  started?: IRunningApp;
  error?: string;
}

/**
 * The session's apps as the server extension reports them: the catalog,
 * the apps started, launch and stop, and the last refusal in words.
 */
export interface IKubedeskApps {
  /** Every version of every app this session may launch, as last loaded. */
  readonly catalog: readonly ICatalogApp[];
  /** The session's apps as the service last listed them. */
  readonly apps: readonly IRunningApp[];
  /** The last refusal or failure, for a person; '' when there is none. */
  readonly notice: string;

  /** Emitted when a catalog has been loaded (not when loading it failed). */
  readonly catalogChanged: ISignal<IKubedeskApps, readonly ICatalogApp[]>;
  /** Emitted with each list of the session's apps. */
  readonly appsChanged: ISignal<IKubedeskApps, readonly IRunningApp[]>;
  /** Emitted each time a notice is set, the same one again included; '' clears it. */
  readonly noticeChanged: ISignal<IKubedeskApps, string>;
  /** Emitted when a launch has been answered, started or refused. */
  readonly launched: ISignal<IKubedeskApps, ILaunchResult>;
  /** Emitted when the service has stopped an app. */
  readonly stopped: ISignal<IKubedeskApps, IRunningApp>;

  /** A version of the catalog, or the newest one of the app without a version. */
  find(id: string, version?: string): ICatalogApp | undefined;
  /** The app's name for a person and its version, e.g. "ITK-SNAP 4.2.2". */
  label(app: { app: string; version: string }): string;
  /** Load the catalog again; a failure becomes the notice. */
  loadCatalog(): Promise<void>;
  /** List the session's apps now; a failure becomes the notice. */
  refresh(): Promise<void>;
  /** One app of the session, from the service. */
  get(id: string): Promise<IRunningApp>;
  /**
   * Start an app, optionally on files (paths as the file browser names
   * them); undefined when it was refused, whose reason is then the notice.
   */
  launch(app: ICatalogApp, files?: string[]): Promise<IRunningApp | undefined>;
  /** Stop an app; a failure becomes the notice. */
  stop(app: IRunningApp): Promise<void>;
  /** Show a refusal or failure in words; '' clears it. */
  setNotice(text: string): void;
}

export const IKubedeskApps = new Token<IKubedeskApps>(
  '@kubedesk/jupyterlab:IKubedeskApps',
  'The kubedesk apps of this session: the catalog, the running apps, launch and stop.'
);

/** The apps' windows in JupyterLab tabs. */
export interface IKubedeskAppViews {
  /** Open the app's window in a tab, or bring its tab forward. */
  open(app: IRunningApp): void;
  /** Close the app's tabs (its window then goes back to the desktop). */
  close(id: string): void;
}

export const IKubedeskAppViews = new Token<IKubedeskAppViews>(
  '@kubedesk/jupyterlab:IKubedeskAppViews',
  "The kubedesk apps' windows in JupyterLab tabs."
);
