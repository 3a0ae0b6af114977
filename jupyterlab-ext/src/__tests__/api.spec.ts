/**
 * @jest-environment node
 */
import { KubedeskAPI, KubedeskError, errorFrom } from '../api';

type Call = { path: string; method?: string; body?: unknown };

function fakeServer(answers: Record<string, [number, unknown]>) {
  const calls: Call[] = [];
  const api = new KubedeskAPI(async (path, init) => {
    calls.push({ path, method: init.method, body: init.body ? JSON.parse(init.body as string) : undefined });
    const [status, body] = answers[`${init.method} ${path}`] ?? [404, { code: 'not_found', message: 'no route' }];
    return new Response(status === 204 ? null : typeof body === 'string' ? body : JSON.stringify(body), { status });
  });
  return { api, calls };
}

describe('KubedeskAPI', () => {
  it('talks to the server extension under kubedesk/api', async () => {
    const { api, calls } = fakeServer({
      'GET kubedesk/api/catalog': [200, [{ id: 'itksnap', name: 'ITK-SNAP', version: '4.2.2' }]],
      'POST kubedesk/api/apps': [202, { id: 'app-1', app: 'itksnap', version: '4.2.2', status: 'starting' }],
      'DELETE kubedesk/api/apps/app-1': [204, null]
    });
    expect((await api.catalog())[0].id).toBe('itksnap');
    expect((await api.launch('itksnap', '4.2.2', ['data/brain.nii.gz'])).status).toBe('starting');
    await api.stop('app-1');
    expect(calls.map(c => `${c.method} ${c.path}`)).toEqual([
      'GET kubedesk/api/catalog',
      'POST kubedesk/api/apps',
      'DELETE kubedesk/api/apps/app-1'
    ]);
    expect(calls[1].body).toEqual({ app: 'itksnap', version: '4.2.2', files: ['data/brain.nii.gz'] });
  });

  it('sends no version or files when there are none', async () => {
    const { api, calls } = fakeServer({ 'POST kubedesk/api/apps': [202, { id: 'x' }] });
    await api.launch('xterm');
    expect(calls[0].body).toEqual({ app: 'xterm' });
  });

  it.each([
    [429, { code: 'quota', message: 'This session already runs 3 apps, the most its profile allows.' }],
    [404, { code: 'unknown_app', message: 'There is no app "nope" in the catalog.' }],
    [403, { code: 'not_allowed', message: 'Your profile may not launch matlab.' }]
  ])('turns a %i refusal into a KubedeskError with the service’s words', async (status, doc) => {
    const { api } = fakeServer({ 'POST kubedesk/api/apps': [status, doc] });
    const err = await api.launch('nope').catch(e => e);
    expect(err).toBeInstanceOf(KubedeskError);
    expect(err).toMatchObject({ status, code: doc.code, message: doc.message });
  });

  it('says so when the server cannot be reached', async () => {
    const api = new KubedeskAPI(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(api.list()).rejects.toMatchObject({ code: 'server_unreachable' });
  });
});

describe('errorFrom', () => {
  it('keeps an excerpt of an answer that is not an error document', () => {
    expect(errorFrom(502, '<html>Bad gateway</html>')).toMatchObject({
      code: 'http_502',
      message: '<html>Bad gateway</html>'
    });
    expect(errorFrom(500, '')).toMatchObject({ code: 'http_500', message: 'The server answered HTTP 500.' });
  });
});
