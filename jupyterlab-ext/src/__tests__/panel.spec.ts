import { IRunningApp } from '../model';
import { IPanelActions, RunningAppsPanel } from '../panel';

function setup() {
  const actions = {
    label: (a: IRunningApp) => `ITK-SNAP ${a.version}`,
    open: jest.fn(),
    showOnDesktop: jest.fn(),
    stop: jest.fn(async () => undefined),
    refresh: jest.fn(async () => undefined)
  } satisfies IPanelActions;
  const panel = new RunningAppsPanel(actions);
  const item = (id: string) => panel.node.querySelector<HTMLElement>(`[data-app-id="${id}"]`);
  const buttons = (id: string) => [...item(id)!.querySelectorAll('button')].map(b => b.textContent);
  const click = (id: string, label: string) =>
    [...item(id)!.querySelectorAll('button')].find(b => b.textContent === label)!.click();
  return { panel, actions, item, buttons, click };
}

const app = (id: string, status: IRunningApp['status'], extra: Partial<IRunningApp> = {}): IRunningApp => ({
  id,
  app: 'itksnap',
  version: '4.2.2',
  status,
  ...extra
});

describe('RunningAppsPanel', () => {
  it('says how to start an app when none runs', () => {
    const { panel } = setup();
    expect(panel.node.textContent).toContain('No apps are running.');
  });

  it('shows each app with its status and the buttons that apply', () => {
    const { panel, item, buttons } = setup();
    panel.setApps([
      app('a1', 'starting', { message: 'Pulling image' }),
      app('a2', 'running'),
      app('a3', 'failed', { message: 'ErrImagePull' })
    ]);
    expect(item('a1')!.querySelector('.kd-RunningApps-name')!.textContent).toBe('ITK-SNAP 4.2.2');
    expect(item('a1')!.textContent).toContain('Starting: Pulling image');
    expect(item('a1')!.querySelector('progress')).not.toBeNull();
    expect(buttons('a1')).toEqual(['Stop']);
    expect(buttons('a2')).toEqual(['Open in tab', 'Show on desktop', 'Stop']);
    expect(item('a3')!.textContent).toContain('Failed: ErrImagePull');
    expect(buttons('a3')).toEqual(['Dismiss']);
  });

  it('calls the actions for the clicked app', () => {
    const { panel, actions, click } = setup();
    const running = app('a2', 'running');
    panel.setApps([running]);
    click('a2', 'Open in tab');
    click('a2', 'Show on desktop');
    click('a2', 'Stop');
    expect(actions.open).toHaveBeenCalledWith(running);
    expect(actions.showOnDesktop).toHaveBeenCalledWith(running);
    expect(actions.stop).toHaveBeenCalledWith(running);
  });

  it('keeps an app whose pod went as ended, saying whether it was stopped', () => {
    const { panel, item, click, buttons } = setup();
    panel.setApps([app('a1', 'running'), app('a2', 'running')]);
    click('a1', 'Stop');
    panel.setApps([]);
    expect(item('a1')!.textContent).toContain('Ended: Stopped');
    expect(item('a2')!.textContent).toContain('Ended: Its pod is gone');
    expect(buttons('a1')).toEqual(['Dismiss']);
    click('a1', 'Dismiss');
    expect(item('a1')).toBeNull();
  });

  it('shows a refusal in words until dismissed', () => {
    const { panel } = setup();
    panel.setNotice('ITK-SNAP 4.2.2 could not be started: This session already runs 3 apps.');
    const notice = panel.node.querySelector<HTMLElement>('.kd-RunningApps-notice')!;
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toContain('already runs 3 apps');
    notice.querySelector('button')!.click();
    expect(notice.hidden).toBe(true);
  });
});
