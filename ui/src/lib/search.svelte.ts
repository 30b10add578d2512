// The inbox's message search: debounced calls to `search_messages`, the newest answer only, and
// a quiet state for queries that cannot be searched yet. Kept apart from the component so vitest
// covers it.
import { api as defaultApi, toApiError, type Api } from './api';
import type { ApiError, Channel, Mode, SearchHitView, SearchMessagesArgs, Stage } from './bindings';

/** The inbox filters a search keeps to ('all' or absent: no limit). */
export type SearchScope = {
  mode?: Mode | 'all';
  stage?: Stage | 'all';
  channel?: Channel | 'all';
};

/** The search arguments for a query within the inbox filters. */
export function searchArgs(query: string, scope: SearchScope = {}): SearchMessagesArgs {
  const args: SearchMessagesArgs = { query, limit: 50 };
  if (scope.mode && scope.mode !== 'all') args.mode = scope.mode;
  if (scope.stage && scope.stage !== 'all') args.stage = scope.stage;
  if (scope.channel && scope.channel !== 'all') args.channel = scope.channel;
  return args;
}

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

  /** The user typed or changed a filter: search after a pause (or clear at once), within the
   * inbox filters, like the conversation list beside it. */
  set(query: string, scope: SearchScope = {}): void {
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
    const args = searchArgs(query.trim(), scope);
    this.#timer = setTimeout(() => void this.#run(args, token), SEARCH_DELAY_MS);
  }

  async #run(args: SearchMessagesArgs, token: number): Promise<void> {
    const query = args.query;
    this.#timer = null;
    try {
      const hits = await this.#api.searchMessages(args);
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
