// Debian's Chromium, headless, driven by playwright-core (which never downloads a browser):
// one launch for every UI suite. RTCHAT_CHROMIUM overrides the binary.
import { chromium } from 'playwright-core';

export const kChromium = process.env.RTCHAT_CHROMIUM || '/usr/bin/chromium';

export function launchChromium() {
  return chromium.launch({
    executablePath: kChromium,
    // No network but the test server's loopback: no sync, component updates or QUIC probes.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    timeout: 30_000,
  });
}
