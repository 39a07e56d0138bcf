/** The adapter registry: `backend:` name in config -> adapter factory. Adding a backend is one line here. */
import type { Registry } from '../src/config';
import { issabel } from './issabel/adapter';
import { vitalpbx } from './vitalpbx/adapter';
import { voipbin } from './voipbin/adapter';

export const registry: Registry = Object.freeze({
  [voipbin.backend]: voipbin,
  [vitalpbx.backend]: vitalpbx,
  [issabel.backend]: issabel,
});
