import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { KubedeskAPI, errorMessage } from './api';
import { ICatalogApp, IRunningApp, displayName, newestVersions } from './model';
import { IKubedeskApps, ILaunchResult } from './tokens';

/**
 * The apps model the core plugin provides (IKubedeskApps): it asks the
 * server extension for the catalog and the session's apps, launches and
 * stops them, and polls the list, quickly while an app starts or stops,
 * every refreshInterval seconds otherwise, and not at all while the page
 * is hidden.
 */
export class KubedeskApps implements IKubedeskApps, IDisposable {
  /** Seconds between two lists of the apps while none is starting or stopping. */
  refreshInterval = 5;

  private _catalog: ICatalogApp[] = [];
  private _apps: IRunningApp[] = [];
  private _notice = '';
  private refreshing: Promise<void> | null = null;
  private timer: number | undefined;
  private polling = false;
  private _disposed = false;
  private readonly _catalogChanged = new Signal<IKubedeskApps, readonly ICatalogApp[]>(this);
  private readonly _appsChanged = new Signal<IKubedeskApps, readonly IRunningApp[]>(this);
  private readonly _noticeChanged = new Signal<IKubedeskApps, string>(this);
  private readonly _launched = new Signal<IKubedeskApps, ILaunchResult>(this);
  private readonly _stopped = new Signal<IKubedeskApps, IRunningApp>(this);

  constructor(private readonly api: KubedeskAPI) {}

  get catalog(): readonly ICatalogApp[] {
    return this._catalog;
  }

  get apps(): readonly IRunningApp[] {
    return this._apps;
  }

  get notice(): string {
    return this._notice;
  }

  get catalogChanged(): Signal<IKubedeskApps, readonly ICatalogApp[]> {
    return this._catalogChanged;
  }

  get appsChanged(): Signal<IKubedeskApps, readonly IRunningApp[]> {
    return this._appsChanged;
  }

  get noticeChanged(): Signal<IKubedeskApps, string> {
    return this._noticeChanged;
  }

  get launched(): Signal<IKubedeskApps, ILaunchResult> {
    return this._launched;
  }

  get stopped(): Signal<IKubedeskApps, IRunningApp> {
    return this._stopped;
  }

  find(id: string, version?: string): ICatalogApp | undefined {
    return version
      ? this._catalog.find(a => a.id === id && a.version === version)
      : newestVersions(this._catalog).find(a => a.id === id);
  }

  label(a: { app: string; version: string }): string {
    const c = this._catalog.find(c => c.id === a.app && c.version === a.version);
    return `${c ? displayName(c) : a.app} ${a.version}`.trim();
  }

  async loadCatalog(): Promise<void> {
    try {
      this._catalog = await this.api.catalog();
    } catch (e) {
      this.setNotice(`The app catalog could not be loaded: ${errorMessage(e)}`);
      return;
    }
    this._catalogChanged.emit(this._catalog);
  }

  refresh(): Promise<void> {
    // One list at a time: the poll, a launch and the panel's button share it.
    this.refreshing ??= this.api
      .list()
      .then(apps => {
        this._apps = apps;
        this._appsChanged.emit(apps);
      })
      .catch(e => this.setNotice(`The list of apps could not be loaded: ${errorMessage(e)}`))
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  get(id: string): Promise<IRunningApp> {
    return this.api.get(id);
  }

  async launch(a: ICatalogApp, files: string[] = []): Promise<IRunningApp | undefined> {
    this.setNotice('');
    try {
      const started = await this.api.launch(a.id, a.version, files);
      this._launched.emit({ app: a, started });
      await this.refresh();
      return started;
    } catch (e) {
      const error = `${`${displayName(a)} ${a.version}`.trim()} could not be started: ${errorMessage(e)}`;
      this.setNotice(error);
      this._launched.emit({ app: a, error });
      return undefined;
    }
  }

  async stop(a: IRunningApp): Promise<void> {
    try {
      await this.api.stop(a.id);
      this._stopped.emit(a);
    } catch (e) {
      this.setNotice(`${this.label(a)} could not be stopped: ${errorMessage(e)}`);
    }
    await this.refresh();
  }

  setNotice(text: string): void {
    this._notice = text;
    this._noticeChanged.emit(text);
  }

  /** Start polling the list of apps (the first list at once); dispose() ends it. */
  startPolling(): void {
    if (this.polling) {
      return;
    }
    this.polling = true;
    void this.poll();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.polling = false;
    window.clearTimeout(this.timer);
    Signal.clearData(this);
  }

  private async poll(): Promise<void> {
    if (!document.hidden) {
      await this.refresh();
    }
    if (!this.polling) {
      return;
    }
    const changing = this._apps.some(a => a.status === 'starting' || a.status === 'stopping');
    this.timer = window.setTimeout(() => void this.poll(), (changing ? 1 : this.refreshInterval) * 1000);
  }
}
