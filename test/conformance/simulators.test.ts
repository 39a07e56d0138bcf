/**
 * The conformance suite against every backend's in-process simulator (each adapter's `startSimulator()` in the
 * registry, started the way `simulator: true` in a config starts it), with writes on. Which parts run for a
 * backend follows from the capabilities its tenant reports, as against a real PBX.
 */
import { registry } from '../../adapters';
import { discoverSync } from './facts';
import type { GatewaySpec } from './gateway';
import { describeConformance } from './suite';

/** Outside every simulator's demo seed (extensions 100-105, 1000-1005, 2001-2003; ring groups 600-601). */
const WRITE_RANGE = { from: 9900, to: 9999 };

/** A digest no key hashes to: the config needs a key, the suite brings its own. */
const NO_KEY = '0'.repeat(64);

const specs: GatewaySpec[] = Object.values(registry)
  .filter((factory) => factory.startSimulator)
  .map((factory) => {
    const tenant = `sim-${factory.backend}`;
    const configText = [
      `api_keys: [{ id: placeholder, key_sha256: "${NO_KEY}", tenants: ["*"] }]`,
      'tenants:',
      `  ${tenant}: { backend: ${factory.backend}, simulator: true }`,
    ].join('\n');
    return { label: `${factory.backend} simulator`, tenant, configText };
  });

const facts = discoverSync(specs);

specs.forEach((spec, i) => describeConformance({ spec, facts: facts[i], write: WRITE_RANGE, autoNumber: true }));
