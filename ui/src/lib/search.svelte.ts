// The inbox's message search: debounced calls to `search_messages`, the newest answer only, and
// a quiet state for queries that cannot be searched yet. Kept apart from the component so vitest
// covers it.
import { api as defaultApi, toApiError, type Api } from './api';
import type { ApiError, SearchHitView } from './bindings';

/** Wait this long after the last keystroke before searching. */
export const SEARCH_DELAY_MS = 250;
/** The backend's query limit, in characters. */
export const MAX_QUERY_CHARS = 200;

/** Whether a query is worth sending: some non-space text, within the limit. */
export function searchable(query: string): boolean {
  const q = query.trim();
  return q !== '' && [...q].length <= MAX_QUERY_CHARS;
}

export class MessageSearch {
  /** The query the hits belong to. */
  query = $state('');
  hits = $state<SearchHitView[]>([]);
  searching = $state(false);
  error = $state<ApiError | null>(null);
  /** True once a search for the current query has answered. */
  done = $state(false);

  #api: Pick<Api, 'searchMessages'>;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #token = 0;

  constructor(backend: Pick<Api, 'searchMessages'> = defaultApi) {
    this.#api = backend;
  }

  /** The user typed: search after a pause (or clear at once). */
  set(query: string): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const token = ++this.#token;
    if (!searchable(query)) {
      this.query = '';
      this.hits = [];
      this.searching = false;
      this.done = false;
      this.error = null;
      return;
    }
    this.searching = true;
    this.#timer = setTimeout(() => void this.#run(query.trim(), token), SEARCH_DELAY_MS);
  }

  async #run(query: string, token: number): Promise<void> {
    this.#timer = null;
    try {
      const hits = await this.#api.searchMessages({ query, limit: 50 });
      if (token !== this.#token) return; // a newer query is on its way
      this.hits = hits;
      this.error = null;
    } catch (error) {
      if (token !== this.#token) return;
      this.hits = [];
      this.error = toApiError(error);
    }
    this.query = query;
    this.done = true;
    this.searching = false;
  }
}
