import { randomUUID } from 'node:crypto';
import { voipbin } from '../../adapters/voipbin/adapter';
import { DEMO_ACCESSKEY, VoipbinSimulator } from '../../adapters/voipbin/simulator';
import { describeAdapterContract } from './suite';

describeAdapterContract({
  factory: voipbin,
  makeBackend() {
    const sim = new VoipbinSimulator();
    return {
      handler: sim.handle,
      state: sim,
      basePath: '/v1.0',
      auth: { accesskey: DEMO_ACCESSKEY },
      badAuth: { accesskey: 'vb_revoked_key_9f8e7d6c5b4a' },
      badAuthSecrets: ['vb_revoked_key_9f8e7d6c5b4a'],
      seed: (list) => sim.seed(list.map((e) => ({ extension: e.extension, name: e.name, detail: e.description, password: e.password }))).map((r) => r.id),
      unknownId: () => randomUUID(),
      requestCount: () => sim.calls.length,
    };
  },
});
