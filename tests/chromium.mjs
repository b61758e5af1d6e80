// Starts headless Chromium (/usr/bin/chromium, or $CHROMIUM) through the
// caller's playwright-core. Debian's Chromium now and then dies with SIGSEGV
// while launching, before any page exists (seen in a fresh-clone `make test`);
// so a launch is tried up to three times. Only the launch: a test that fails
// once it has a browser still fails.
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

export async function launchChromium(chromium, attempts = 3) {
    for (let attempt = 1; ; attempt++) {
        try {
            return await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
        } catch (error) {
            if (attempt >= attempts) throw error;
            console.warn(`Chromium did not start (attempt ${attempt} of ${attempts}): ${String(error.message).split("\n")[0]}`);
        }
    }
}
