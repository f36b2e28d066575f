// Debian's headless Chromium (/usr/bin/chromium) through playwright-core, which is installed
// under `toolsDir` (wasm/tools.sh): never a downloaded browser. The flags keep it from reaching
// for the network, which this machine does not have.

import { createRequire } from 'node:module';
import { join } from 'node:path';

/** `extraArgs`: more command-line flags for Chromium. */
export function launchChromium(toolsDir, extraArgs = []) {
  const { chromium } = createRequire(join(toolsDir, 'package.json'))('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', ...extraArgs],
  });
}
