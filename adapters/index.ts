/** The adapter registry: `backend:` name in config -> adapter factory. Adding a backend is one line here. */
import type { Registry } from '../src/config';
import { voipbin } from './voipbin/adapter';

export const registry: Registry = Object.freeze({
  [voipbin.backend]: voipbin,
});
