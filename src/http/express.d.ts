import type { RequestLog } from '../log';
import type { ApiKeyConfig } from '../../schemas/types';
import type { RequestContext } from '../request-context';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The request's logger: request id, and key id once authenticated. */
      log?: RequestLog;
      apiKey?: ApiKeyConfig;
      /** Request id and time budget, handed to every adapter call; set by the app's first middleware. */
      ctx: RequestContext;
    }
  }
}
export {};
