import { Widget } from '@lumino/widgets';

import { IRunningApp, isFinished, statusText } from './model';

/** What the panel's buttons do; the plugin supplies them. */
export interface IPanelActions {
  /** The app's name for a person, e.g. "ITK-SNAP 4.2.2" (the catalog's name, not its id). */
  label(app: IRunningApp): string;
  open(app: IRunningApp): void;
  showOnDesktop(app: IRunningApp): void;
  stop(app: IRunningApp): Promise<void>;
  refresh(): Promise<void>;
}

/**
 * The "Running apps" side panel: every app of the session with its status,
 * and buttons to open it in a tab, show it on the desktop or stop it. It
 * also shows the last refusal (unknown app, quota, …) in words, until
 * dismissed or the next launch.
 *
 * Apps that disappear from the service's list (their pod is gone) stay as
 * "ended" until dismissed, so a person sees what became of them.
 */
export class RunningAppsPanel extends Widget {
  private apps: readonly IRunningApp[] = [];
  private gone = new Map<string, IRunningApp>();
  private stopped = new Set<string>();
  private dismissed = new Set<string>();
  private notice = '';
  private readonly noticeNode: HTMLElement;
  private readonly listNode: HTMLElement;

  constructor(private readonly actions: IPanelActions) {
    super();
    this.id = 'kubedesk-running-apps';
    this.addClass('kd-RunningApps');
    this.title.caption = 'Running apps';

    const header = document.createElement('div');
    header.className = 'kd-RunningApps-header';
    const h = document.createElement('h2');
    h.textContent = 'Running apps';
    const refresh = button('Refresh', 'kd-RunningApps-refresh', () => void this.actions.refresh());
    header.append(h, refresh);

    this.noticeNode = document.createElement('div');
    this.noticeNode.className = 'kd-RunningApps-notice';
    this.noticeNode.setAttribute('role', 'alert');
    this.listNode = document.createElement('ul');
    this.listNode.className = 'kd-RunningApps-list';
    this.node.append(header, this.noticeNode, this.listNode);
    this.render();
  }

  /** The session's apps as the service now reports them. */
  setApps(apps: readonly IRunningApp[]): void {
    const now = new Set(apps.map(a => a.id));
    for (const old of this.apps) {
      if (!now.has(old.id) && !this.gone.has(old.id)) {
        const message = this.stopped.has(old.id) ? 'Stopped' : isFinished(old) ? old.message : 'Its pod is gone';
        this.gone.set(old.id, { ...old, status: old.status === 'failed' ? 'failed' : 'ended', message });
      }
    }
    this.apps = apps;
    this.render();
  }

  /** Show a refusal or failure in words until dismissed; '' clears it. */
  setNotice(text: string): void {
    this.notice = text;
    this.render();
  }

  /** Mark an app as stopped by the person, for the line it keeps once gone. */
  markStopped(id: string): void {
    this.stopped.add(id);
  }

  /** Every app shown: the service's first, then the ones that have gone. */
  get shown(): IRunningApp[] {
    const live = new Set(this.apps.map(a => a.id));
    return [...this.apps, ...[...this.gone.values()].filter(a => !live.has(a.id))].filter(
      a => !this.dismissed.has(a.id)
    );
  }

  private render(): void {
    this.noticeNode.replaceChildren();
    this.noticeNode.hidden = !this.notice;
    if (this.notice) {
      const text = document.createElement('span');
      text.textContent = this.notice;
      this.noticeNode.append(
        text,
        button('Dismiss', 'kd-RunningApps-dismiss', () => this.setNotice(''))
      );
    }

    const items = this.shown;
    this.listNode.replaceChildren();
    if (!items.length) {
      const empty = document.createElement('li');
      empty.className = 'kd-RunningApps-empty';
      empty.textContent = 'No apps are running. Start one from the Launcher.';
      this.listNode.append(empty);
      return;
    }
    for (const app of items) {
      this.listNode.append(this.renderApp(app));
    }
  }

  private renderApp(app: IRunningApp): HTMLElement {
    const li = document.createElement('li');
    li.className = `kd-RunningApps-item kd-mod-${app.status}`;
    li.dataset.appId = app.id;

    const name = document.createElement('div');
    name.className = 'kd-RunningApps-name';
    name.textContent = this.actions.label(app);
    const status = document.createElement('div');
    status.className = 'kd-RunningApps-status';
    status.textContent = statusText(app);
    li.append(name, status);

    if (app.status === 'starting') {
      const bar = document.createElement('progress');
      bar.className = 'kd-RunningApps-progress';
      bar.setAttribute('aria-label', `${this.actions.label(app)} is starting`);
      li.append(bar);
    }

    const actions = document.createElement('div');
    actions.className = 'kd-RunningApps-actions';
    if (app.status === 'running') {
      actions.append(
        button('Open in tab', 'kd-RunningApps-open', () => this.actions.open(app)),
        button('Show on desktop', 'kd-RunningApps-desktop', () => this.actions.showOnDesktop(app), {
          title: "Close this app's JupyterLab tabs, so its window returns to the desktop, and open the desktop"
        })
      );
    }
    if (!this.gone.has(app.id) && (app.status === 'starting' || app.status === 'running')) {
      actions.append(
        button('Stop', 'kd-RunningApps-stop', () => {
          this.markStopped(app.id);
          void this.actions.stop(app);
        })
      );
    }
    if (this.gone.has(app.id) || isFinished(app)) {
      actions.append(
        button('Dismiss', 'kd-RunningApps-forget', () => {
          this.gone.delete(app.id);
          this.dismissed.add(app.id);
          this.render();
        })
      );
    }
    li.append(actions);
    return li;
  }
}

function button(
  label: string,
  className: string,
  onClick: () => void,
  opts: { title?: string } = {}
): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `jp-Button jp-mod-styled jp-mod-minimal ${className}`;
  b.textContent = label;
  if (opts.title) {
    b.title = opts.title;
  }
  b.addEventListener('click', onClick);
  return b;
}
