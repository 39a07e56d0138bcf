// Lets plain `node` load the project's TypeScript (src/, adapters/, test/conformance/) without a build: each .ts
// file is transpiled on load with the project's own TypeScript (types are not checked here; `npm test` does that).
// Used by the conformance probe, which runs in a child process before jest declares the tests.
'use strict';
const fs = require('node:fs');
const ts = require('typescript');

const options = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  resolveJsonModule: true,
  inlineSourceMap: true,
};

require.extensions['.ts'] = function loadTs(module, filename) {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), { fileName: filename, compilerOptions: options });
  module._compile(outputText, filename);
};
