/**
 * The conformance run an operator starts against their own PBX, through `npm run test:conformance -- --config
 * <file> --tenant <name> [--write <from>-<to>] [--auto-number]` (test/conformance/cli.js, which sets the
 * CONFORMANCE_* variables read here and runs jest with test/conformance/jest.config.js). Not matched by the
 * default jest run: it needs a config.
 */
import { discoverSync } from './facts';
import type { GatewaySpec } from './gateway';
import { describeConformance, type WriteRange } from './suite';

const configPath = process.env.CONFORMANCE_CONFIG;
const tenant = process.env.CONFORMANCE_TENANT;

if (!configPath || !tenant) {
  it('is started through npm run test:conformance -- --config <file> --tenant <name>', () => {
    throw new Error('CONFORMANCE_CONFIG and CONFORMANCE_TENANT are not set: run npm run test:conformance -- --config <file> --tenant <name> [--write <from>-<to>]');
  });
} else {
  const m = /^(\d+)-(\d+)$/.exec(process.env.CONFORMANCE_WRITE ?? '');
  const write: WriteRange | undefined = m ? { from: Number(m[1]), to: Number(m[2]) } : undefined;
  const spec: GatewaySpec = { label: `${tenant} from ${configPath}`, tenant, configPath };
  const [facts] = discoverSync([spec]);
  describeConformance({
    spec,
    facts,
    write,
    autoNumber: process.env.CONFORMANCE_AUTO_NUMBER === '1',
    timeoutMs: Number(process.env.CONFORMANCE_TIMEOUT_MS) || 120_000,
  });
}
