import type { RequestLog } from '../log';
import type { ApiKeyConfig } from '../../schemas/types';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The request's logger: request id, and key id once authenticated. */
      log?: RequestLog;
      apiKey?: ApiKeyConfig;
    }
  }
}
export {};
