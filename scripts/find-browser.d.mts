/** A Chromium-family browser for the browser test; see find-browser.mjs. */
export function findBrowser(): Promise<{ path: string; source: 'CHROME_PATH' | 'playwright-core' | 'usual location' | 'PATH' } | { path: undefined; looked: string[] }>;
/** How to get a browser, for messages. */
export const HOW_TO_GET_ONE: string;
