/**
 * The folder that holds config/ and console/: the source tree, or the installed package above dist/ (which has
 * a package.json of its own, so the marker is the demo config, not package.json).
 */
import fs from 'node:fs';
import path from 'node:path';

export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'config', 'demo.yaml'))) return dir;
    if (path.dirname(dir) === dir) return from;
  }
}
