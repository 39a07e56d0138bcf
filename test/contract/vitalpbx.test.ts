import { vitalpbx } from '../../adapters/vitalpbx/adapter';
import { DEMO_APP_KEY, VitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { describeAdapterContract } from './suite';

describeAdapterContract({
  factory: vitalpbx,
  makeBackend() {
    const sim = new VitalpbxSimulator();
    return {
      handler: sim.handle,
      state: sim,
      basePath: '/api/v2',
      auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' },
      badAuth: { app_key: 'vpbx_refused_key_77aa', tenant: 'vitalpbx' },
      badAuthSecrets: ['vpbx_refused_key_77aa'],
      seed: (list) => sim.seed('vitalpbx', list.map((e) => ({ extension: e.extension, name: e.name, secret: e.password }))),
      unknownId: () => String(900000 + Math.floor(Math.random() * 99999)),
      requestCount: () => sim.calls.length,
    };
  },
});
