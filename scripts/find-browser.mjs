// Finds a Chromium-family browser (Chromium, Chrome, Edge) for the browser test
// (spec/browser/browser.spec.ts), on any OS, in this order:
//   1. CHROME_PATH (or FLAXEN_CHROMIUM, its older name), when set: that file and nothing else;
//   2. the browser playwright-core downloads itself (`npx playwright-core install chromium`);
//   3. the usual install locations of Linux, macOS and Windows, then the PATH.
// As a program, prints the path found and exits 0, or lists where it looked and exits 1.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where browsers are usually installed on this OS. */
function usualLocations() {
  const env = process.env;
  if (process.platform === 'darwin') {
    const apps = ['/Applications', join(env.HOME ?? '', 'Applications')];
    const bundles = ['Chromium.app/Contents/MacOS/Chromium', 'Google Chrome.app/Contents/MacOS/Google Chrome',
      'Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing', 'Microsoft Edge.app/Contents/MacOS/Microsoft Edge'];
    return apps.flatMap((dir) => bundles.map((bundle) => join(dir, bundle)));
  }
  if (process.platform === 'win32') {
    const roots = [env.LOCALAPPDATA, env.PROGRAMFILES, env['PROGRAMFILES(X86)']].filter(Boolean);
    const exes = ['Google\\Chrome\\Application\\chrome.exe', 'Chromium\\Application\\chrome.exe', 'Microsoft\\Edge\\Application\\msedge.exe'];
    return roots.flatMap((root) => exes.map((exe) => join(root, exe)));
  }
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/snap/bin/chromium', '/usr/bin/google-chrome',
    '/usr/bin/google-chrome-stable', '/opt/google/chrome/chrome', '/usr/bin/microsoft-edge', '/opt/microsoft/msedge/msedge'];
}

/** The browser names looked up on the PATH. */
const PATH_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome', 'msedge'];

/** playwright-core's own browser, when it is installed and has downloaded one. */
async function playwrightBrowser() {
  try {
    const { chromium } = await import('playwright-core');
    return chromium.executablePath();
  } catch {
    return undefined; // playwright-core is not installed, or knows no browser for this OS
  }
}

/**
 * The browser to use: `{ path, source }`, or `{ path: undefined, looked }` with every place
 * looked at, in order.
 */
export async function findBrowser() {
  const looked = [];
  const named = process.env.CHROME_PATH || process.env.FLAXEN_CHROMIUM;
  if (named) {
    if (existsSync(named)) return { path: named, source: 'CHROME_PATH' };
    return { path: undefined, looked: [`CHROME_PATH=${named} (no such file)`] };
  }
  const fromPlaywright = await playwrightBrowser();
  if (fromPlaywright && existsSync(fromPlaywright)) return { path: fromPlaywright, source: 'playwright-core' };
  looked.push(`playwright-core's own browser${fromPlaywright ? ` (${fromPlaywright})` : ''}`);
  for (const candidate of usualLocations()) {
    if (existsSync(candidate)) return { path: candidate, source: 'usual location' };
    looked.push(candidate);
  }
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of PATH_NAMES) {
      for (const ext of exts) {
        const candidate = join(dir, name + ext);
        if (existsSync(candidate)) return { path: candidate, source: 'PATH' };
      }
    }
  }
  looked.push(`${PATH_NAMES.join(', ')} on the PATH`);
  return { path: undefined, looked };
}

/** How to get a browser, for the messages of the script and the spec. */
export const HOW_TO_GET_ONE =
  'set CHROME_PATH to a Chromium, Chrome or Edge binary, or run `npx playwright-core install chromium`, ' +
  "or on Debian/Ubuntu `bash scripts/ensure-chromium.sh --install` (apt-get's chromium; it asks for sudo when not root)";

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const found = await findBrowser();
  if (found.path) {
    console.log(found.path);
  } else {
    console.error(`find-browser: no browser found. Looked at:\n  ${found.looked.join('\n  ')}`);
    process.exitCode = 1;
  }
}
