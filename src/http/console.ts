/**
 * Serves the web console (console/, built to dist/web/console/): static files only. The console works through the
 * unified API with the key its user signs in with, so it can do nothing that key may not.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { type IRouter } from 'express';
import { projectRoot } from '../project-root';

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function consoleRoutes(router: IRouter): void {
  const found = projectRoot();
  const root = fs.existsSync(path.join(found, 'console', 'index.html')) ? found : undefined;
  const setCsp = (res: express.Response) => res.setHeader('Content-Security-Policy', CSP);
  // The root has nothing of its own: a browser pointed at the gateway lands on the console.
  router.get('/', (_req, res) => res.redirect(302, '/console/'));
  router.get('/console', (req, res) => {
    if (!root || !fs.existsSync(path.join(root, 'dist', 'web', 'console', 'app.js'))) {
      res.status(503).type('text/plain').send('The console is not built: run `npm run build`.');
      return;
    }
    if (!req.originalUrl.endsWith('/')) return res.redirect(301, '/console/');
    setCsp(res);
    res.sendFile(path.join(root, 'console', 'index.html'));
  });
  if (root) {
    const assets = { setHeaders: setCsp, index: false, fallthrough: true } as const;
    router.use('/console', express.static(path.join(root, 'dist', 'web', 'console'), { ...assets, extensions: [] }));
    router.get('/console/styles.css', (_req, res) => {
      setCsp(res);
      res.sendFile(path.join(root, 'console', 'styles.css'));
    });
  }
}
