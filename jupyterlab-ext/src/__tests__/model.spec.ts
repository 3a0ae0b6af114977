/**
 * @jest-environment node
 */
import {
  ICatalogApp,
  appsForFiles,
  compareVersions,
  groupByCategory,
  newestVersions,
  opensFile,
  statusText
} from '../model';

const itksnap = (version: string): ICatalogApp => ({
  id: 'itksnap',
  name: 'ITK-SNAP',
  version,
  categories: ['visualization', 'image segmentation'],
  file_types: ['.nii.gz', '.nrrd', 'application/dicom']
});
const fsleyes: ICatalogApp = { id: 'fsleyes', name: 'FSLeyes', version: '1.3.0', categories: ['visualization'] };
const xterm: ICatalogApp = { id: 'xterm', name: 'XTerm', version: '388' };

describe('groupByCategory', () => {
  it('groups like the desktop menu: every category of an app, sorted, newest version first', () => {
    const groups = groupByCategory([itksnap('3.8.0'), xterm, fsleyes, itksnap('4.2.2')]);
    expect([...groups.keys()]).toEqual(['Image segmentation', 'Other', 'Visualization']);
    expect(groups.get('Visualization')!.map(a => `${a.name} ${a.version}`)).toEqual([
      'FSLeyes 1.3.0',
      'ITK-SNAP 4.2.2',
      'ITK-SNAP 3.8.0'
    ]);
    expect(groups.get('Other')).toEqual([xterm]);
  });
});

describe('compareVersions', () => {
  it.each([
    ['4.10.0', '4.9.1', 1],
    ['r7771', 'r800', 1],
    ['1.0', '1.0.1', -1],
    ['20260117', '20260117', 0]
  ])('%s vs %s', (a, b, want) => {
    expect(Math.sign(compareVersions(a, b))).toBe(want);
  });

  it('picks the newest version of each app', () => {
    expect(newestVersions([itksnap('3.8.0'), itksnap('4.2.2'), fsleyes]).map(a => a.version)).toEqual([
      '4.2.2',
      '1.3.0'
    ]);
  });
});

describe('opensFile', () => {
  it.each([
    ['data/brain.nii.gz', undefined, true],
    ['BRAIN.NII.GZ', undefined, true],
    ['scan.dcm', 'application/dicom', true],
    ['brain.nii', undefined, false],
    ['.nii.gz', undefined, false],
    ['notes.txt', 'text/plain', false]
  ])('%s (%s) → %s', (path, mime, want) => {
    expect(opensFile(itksnap('4.2.2'), path, mime)).toBe(want);
  });

  it('offers only apps that open every selected file, once per app', () => {
    const apps = [itksnap('3.8.0'), itksnap('4.2.2'), fsleyes];
    expect(appsForFiles(apps, [{ path: 'a.nrrd' }, { path: 'b.nii.gz' }]).map(a => a.version)).toEqual(['4.2.2']);
    expect(appsForFiles(apps, [{ path: 'a.nrrd' }, { path: 'b.txt' }])).toEqual([]);
    expect(appsForFiles(apps, [])).toEqual([]);
  });
});

describe('statusText', () => {
  const base = { id: 'a1', app: 'itksnap', version: '4.2.2' };
  it.each([
    [{ status: 'starting' }, 'Starting…'],
    [{ status: 'starting', message: 'Pulling image vnmd/itksnap' }, 'Starting: Pulling image vnmd/itksnap'],
    [{ status: 'running' }, 'Running'],
    [{ status: 'failed', message: 'ImagePullBackOff: image not found' }, 'Failed: ImagePullBackOff: image not found'],
    [{ status: 'failed' }, 'Failed to start'],
    [{ status: 'ended', exit_code: 3 }, 'Ended with exit code 3'],
    [{ status: 'ended', exit_code: 0 }, 'Ended'],
    [{ status: 'ended', message: 'Stopped' }, 'Ended: Stopped']
  ] as const)('%j → %s', (s, want) => {
    expect(statusText({ ...base, ...s })).toBe(want);
  });
});
