import { issabel } from '../../adapters/issabel/adapter';
import { DEMO_USER, IssabelSimulator } from '../../adapters/issabel/simulator';
import { describeAdapterContract } from './suite';

describeAdapterContract({
  factory: issabel,
  makeBackend() {
    const sim = new IssabelSimulator();
    let next = 800000;
    return {
      handler: sim.handle,
      state: sim,
      basePath: '/pbxapi',
      auth: { ...DEMO_USER },
      badAuth: { user: 'admin', password: 'refused-issabel-pass' },
      badAuthSecrets: ['refused-issabel-pass'],
      seed: (list) => {
        sim.seed(list.map((e) => ({ extension: e.extension, name: e.name, secret: e.password })));
        return list.map((e) => e.extension);
      },
      unknownId: () => String(next++),
      requestCount: () => sim.calls.length,
    };
  },
});
