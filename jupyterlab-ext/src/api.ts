import { ICatalogApp, IRunningApp } from './model';

/**
 * A refusal of the service, the launcher agent or the server extension: a
 * stable code ("unknown_app", "quota", "not_allowed", "bad_file",
 * "agent_unreachable", …) and a message written for a person.
 */
export class KubedeskError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0
  ) {
    super(message);
    this.name = 'KubedeskError';
  }
}

/** Sends a request to the Jupyter server: ServerConnection.makeRequest in the app, a fake in tests. */
export type Fetcher = (path: string, init: RequestInit) => Promise<Response>;

/** A client of the server extension's kubedesk/api routes. */
export class KubedeskAPI {
  constructor(private readonly fetcher: Fetcher) {}

  catalog(): Promise<ICatalogApp[]> {
    return this.request<ICatalogApp[]>('catalog', { method: 'GET' });
  }

  list(): Promise<IRunningApp[]> {
    return this.request<IRunningApp[]>('apps', { method: 'GET' });
  }

  get(id: string): Promise<IRunningApp> {
    return this.request<IRunningApp>(`apps/${encodeURIComponent(id)}`, { method: 'GET' });
  }

  /** Files are paths as the file browser names them (relative to the server's root). */
  launch(app: string, version = '', files: string[] = []): Promise<IRunningApp> {
    const body: { app: string; version?: string; files?: string[] } = { app };
    if (version) {
      body.version = version;
    }
    if (files.length) {
      body.files = files;
    }
    return this.request<IRunningApp>('apps', { method: 'POST', body: JSON.stringify(body) });
  }

  async stop(id: string): Promise<void> {
    await this.request<void>(`apps/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  private async request<T>(path: string, init: RequestInit): Promise<T> {
    let resp: Response;
    try {
      resp = await this.fetcher(`kubedesk/api/${path}`, init);
    } catch (e) {
      throw new KubedeskError('server_unreachable', `The Jupyter server did not answer: ${String(e)}`);
    }
    const text = await resp.text();
    if (!resp.ok) {
      throw errorFrom(resp.status, text);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/** The {code, message} document of an error answer, or an excerpt of whatever came back. */
export function errorFrom(status: number, text: string): KubedeskError {
  try {
    const doc = JSON.parse(text);
    if (doc && typeof doc === 'object' && (doc.code || doc.message)) {
      return new KubedeskError(String(doc.code || `http_${status}`), String(doc.message || doc.code), status);
    }
  } catch {
    // not JSON: fall through to the excerpt
  }
  const excerpt = text.trim().slice(0, 200);
  return new KubedeskError(`http_${status}`, excerpt || `The server answered HTTP ${status}.`, status);
}

/** A message for a person from anything thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    return e.message;
  }
  return String(e);
}
