import * as path from "path";
import { defineConfig } from "@playwright/test";

// The control binary and its built site come from scripts/test.sh (or set
// E2E_CONTROL_BIN / CONTROL_SERVER_SITE_ROOT yourself). The browser is Debian's
// chromium; Playwright never downloads one.
const port = Number(process.env.E2E_PORT ?? 3901);
const bin = process.env.E2E_CONTROL_BIN ?? "../target/debug/control";
const dataDir = process.env.E2E_DATA_DIR ?? `/tmp/control-e2e-${port}`;
const simPort = Number(process.env.E2E_SIM_PORT ?? port + 10);
process.env.E2E_DATA_DIR = dataDir;
process.env.E2E_SIM_PORT = String(simPort);

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "off",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: `${bin} dev --listen 127.0.0.1:${port} --data-dir ${dataDir} --sim-control-port ${simPort}`,
    url: `http://127.0.0.1:${port}/ready`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    // Every test signs its contexts in as the same few operators, far more
    // often than the production sign-in limit allows; the limit itself is
    // tested in server/tests/edge_login.rs.
    env: {
      ...process.env,
      CONTROL_AUTH_LOGIN_PER_USER_PER_MINUTE: "100000",
      CONTROL_AUTH_LOGIN_PER_SOURCE_PER_MINUTE: "100000",
      // The server runs from end2end/: the platform's stack file by its path.
      CONTROL_DRIFT_STACKS: `cloudlysis=${path.resolve(__dirname, "../swarm/platform.yml")}`,
    } as Record<string, string>,
  },
});
