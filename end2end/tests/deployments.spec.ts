import { test, expect, hydrated } from "./fixtures";
import AxeBuilder from "@axe-core/playwright";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Against a real Docker Engine in Swarm mode: `control dev` reads the
// default socket (/var/run/docker.sock); CONTROL_TEST_DOCKER_SOCKET says
// there is one and the docker CLI uses it. Without it the suite is skipped,
// loudly, except in CI, where a missing daemon is a failure.
const socket = process.env.CONTROL_TEST_DOCKER_SOCKET;
if (!socket) {
  const why = "CONTROL_TEST_DOCKER_SOCKET is unset: no Docker Engine in Swarm mode to deploy to";
  if (process.env.CI === "true") throw new Error(`deployments.spec.ts: ${why} (CI=true, so this fails)`);
  console.warn(`\n!!! deployments.spec.ts SKIPPED: ${why} !!!\n`);
}
test.skip(!socket, "needs a Docker Engine in Swarm mode (CONTROL_TEST_DOCKER_SOCKET)");
test.describe.configure({ mode: "serial" });

// One stack per run, so runs and leftovers never meet.
const stack = `e2edeploy${randomBytes(4).toString("hex")}`;
const service = `${stack}_web`;
const SECRET = "supersecret";

function docker(...args: string[]) {
  return execFileSync("docker", args, {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, DOCKER_HOST: `unix://${socket}` },
  });
}

test.beforeAll(() => {
  // No replicas: the image need not exist, nothing is pulled or resolved.
  docker(
    "service", "create", "--detach", "--no-resolve-image",
    "--name", service,
    "--label", `com.docker.stack.namespace=${stack}`,
    "--replicas", "0",
    "--env", "LOG=info",
    "--env", `API_TOKEN=${SECRET}`,
    "cltest/none:1",
  );
});

test.afterAll(() => {
  try {
    docker("service", "rm", service);
  } catch (e) {
    console.warn(`could not remove the e2e service ${service}: ${e}`);
  }
});

/// Every deploy answer the page reads, to check that none holds the secret.
function watchAnswers(page: any): string[] {
  const bodies: string[] = [];
  page.on("response", async (res: any) => {
    if (res.url().includes("/api/deploy/")) bodies.push(await res.text().catch(() => ""));
  });
  return bodies;
}

/// As ergonomics.spec.ts does for every page, here with a service shown.
async function noSeriousAxeViolation(page: any) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

async function noSecretShown(page: any, bodies: string[]) {
  expect(await page.content()).not.toContain(SECRET);
  for (const b of bodies) expect(b).not.toContain(SECRET);
}

test("a service is listed under its stack; a change made by hand shows in its history and what changed, never its secret", async ({ page, problems }) => {
  test.setTimeout(90_000);
  const bodies = watchAnswers(page);
  // By name: the Swarm may hold other services (a page holds 50), and this
  // one must be found whatever sorts before it.
  await page.goto(`/deployments?q=${service}`);
  await hydrated(page);
  // The page reads again by itself until the observer has seen the service.
  const row = page.locator(`[data-testid='deploy-services'] tbody[data-stack='${stack}'] tr[data-service='${service}']`);
  await expect(row).toBeVisible({ timeout: 15_000 });
  await expect(row.locator("td").nth(1)).toHaveText(stack);
  await expect(row.getByTestId("version")).toHaveText("1");
  await expect(row.getByTestId("replicas")).toHaveText("0/0");
  await expect(row.getByTestId("status")).toHaveAttribute("data-status", "running");
  await noSecretShown(page, bodies);
  await noSeriousAxeViolation(page);

  await row.getByRole("link", { name: service }).click();
  await expect(page).toHaveURL(new RegExp(`/deployments\\?service=${service}$`));
  await expect(page.getByTestId("deploy-service-title")).toHaveText(service);
  await expect(page.getByTestId("deploy-version")).toHaveText("1");
  const history = page.locator("[data-testid='deploy-history'] tbody tr");
  await expect(history).toHaveCount(1);
  await expect(page.getByTestId("deploy-diff")).toHaveAttribute("data-empty", "true");
  const env = page.getByTestId("deploy-env");
  await expect(env.locator("tr[data-key='LOG'] td")).toHaveText("info");
  const token = env.locator("tr[data-key='API_TOKEN']");
  await expect(token).toHaveAttribute("data-secret", "true");
  await expect(token.locator("td")).toHaveText(/^secret \(fingerprint [0-9a-f]{12}…\)$/);
  await noSecretShown(page, bodies);

  // Changed outside the control plane; the page follows without a reload.
  docker("service", "update", "--detach", "--no-resolve-image", "--env-add", "LOG=debug", service);
  await expect(history).toHaveCount(2, { timeout: 10_000 });
  await expect(history.first()).toHaveAttribute("data-seq", "2");
  await expect(history.first()).toContainText("observed");
  const change = page.locator("[data-testid='deploy-diff'] tr[data-field='env.LOG']");
  await expect(change).toHaveAttribute("data-kind", "changed");
  await expect(change.locator("td").nth(1)).toHaveText("info");
  await expect(change.locator("td").nth(2)).toContainText("debug");
  await expect(page.locator("[data-testid='deploy-diff'] tbody tr")).toHaveCount(1);
  await expect(page.getByTestId("deploy-diff-from")).toHaveValue("1");
  await expect(page.getByTestId("deploy-diff-to")).toHaveValue("2");
  await expect(env.locator("tr[data-key='LOG'] td")).toHaveText("debug");
  await noSeriousAxeViolation(page);

  // Another pair: the newest against the first, backwards.
  await page.getByTestId("deploy-diff-from").selectOption("2");
  await page.getByTestId("deploy-diff-to").selectOption("1");
  await expect(change.locator("td").nth(1)).toHaveText("debug");
  await expect(change.locator("td").nth(2)).toContainText("info");
  await expect(page.getByTestId("deploy-diff-from")).toHaveValue("2");
  await noSecretShown(page, bodies);
  void problems;
});

test("the stack filter lives in the URL and survives a reload", async ({ page, problems }) => {
  await page.goto("/deployments");
  await hydrated(page);
  const stackSelect = page.getByLabel("Stack");
  await expect(stackSelect.locator(`option[value='${stack}']`)).toHaveCount(1, { timeout: 15_000 });
  await stackSelect.selectOption(stack);
  await expect(page).toHaveURL(new RegExp(`[?&]stack=${stack}\\b`));
  const groups = page.locator("[data-testid='deploy-services'] tbody");
  await expect(groups).toHaveCount(1);
  await expect(groups).toHaveAttribute("data-stack", stack);
  await expect(groups.locator(`tr[data-service='${service}']`)).toBeVisible();

  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Stack")).toHaveValue(stack);
  await expect(groups).toHaveCount(1);
  await expect(groups).toHaveAttribute("data-stack", stack);
  await expect(groups.locator(`tr[data-service='${service}']`)).toBeVisible();

  // Back to every stack: the parameter goes.
  await page.getByLabel("Stack").selectOption("");
  await expect(page).not.toHaveURL(/[?&]stack=/);
  void problems;
});

/// An image on this engine from the static busybox (no registry, nothing
/// pulled): a rollback's IMAGE_PRESENT gate needs its target image here.
/// `cltest/*` images are removed by scripts/test.sh at the end.
function busyboxImage(tag: string) {
  const dir = mkdtempSync(join(tmpdir(), "e2edeploy-img-"));
  try {
    mkdirSync(join(dir, "root", "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(dir, "root", "bin", "busybox"));
    chmodSync(join(dir, "root", "bin", "busybox"), 0o755);
    execFileSync("tar", ["-C", join(dir, "root"), "-cf", join(dir, "root.tar"), "."]);
    docker("image", "import", "--change", 'CMD ["/bin/busybox", "sleep", "3600"]', join(dir, "root.tar"), tag);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a rollback from the UI succeeds with live progress", async ({ page, problems }) => {
  test.setTimeout(240_000);
  const rb = `${stack}_rb`;
  const image = `cltest/e2ebusybox:${stack}`;
  busyboxImage(image);
  try {
    docker(
      "service", "create", "--detach", "--no-resolve-image",
      "--name", rb,
      "--label", `com.docker.stack.namespace=${stack}`,
      "--replicas", "1",
      "--stop-signal", "SIGKILL",
      "--update-monitor", "1s",
      "--env", "LOG=info",
      image, "/bin/busybox", "sleep", "3600",
    );
    // From the list, once the observer has seen it (its detail is a 404 until then).
    await page.goto(`/deployments?q=${rb}`);
    await hydrated(page);
    const listed = page.locator(`[data-testid='deploy-services'] tr[data-service='${rb}']`);
    await expect(listed).toBeVisible({ timeout: 15_000 });
    await listed.getByRole("link", { name: rb }).click();
    await expect(page.getByTestId("deploy-service-title")).toHaveText(rb);
    const history = page.locator("[data-testid='deploy-history'] tbody tr");
    await expect(history).toHaveCount(1, { timeout: 20_000 });
    // The only record is the running spec: nothing to roll back to in its row.
    await expect(history.first()).toHaveAttribute("data-current", "true");
    await expect(page.getByTestId("rollback-1-button")).toHaveCount(0);

    // A second recorded spec, by hand; once its rolling update is done,
    // no gate waits for it.
    docker("service", "update", "--detach", "--no-resolve-image", "--env-add", "LOG=debug", rb);
    await expect(history).toHaveCount(2, { timeout: 20_000 });
    await expect(page.getByTestId("deploy-update").locator(".badge")).toHaveText("completed", { timeout: 90_000 });
    await expect(page.getByTestId("deploy-env").locator("tr[data-key='LOG'] td")).toHaveText("debug");
    await expect(history.nth(1)).toHaveAttribute("data-current", "false");
    await expect(page.getByTestId("rollback-1-button")).toBeVisible();

    // The plan: back to #1 from the running #2, what changes, no gate failing.
    let plan = page.getByTestId("plan");
    for (let i = 0; ; i++) {
      await page.getByTestId("rollback-button").click();
      await expect(plan).toBeVisible({ timeout: 15_000 });
      if ((await plan.getAttribute("data-blocked")) === "false") break;
      if (i >= 20) throw new Error(`the rollback plan stayed blocked: ${await plan.innerText()}`);
      await page.keyboard.press("Escape");
      await page.waitForTimeout(1_000);
    }
    const dialog = page.locator("#rollback");
    await expect(dialog).toContainText(`Roll back ${rb}`);
    const deploy = plan.getByTestId("plan-deploy");
    await expect(deploy).toBeVisible();
    await expect(deploy).toHaveAttribute("data-from-seq", "2");
    await expect(deploy).toHaveAttribute("data-to-seq", "1");
    await expect(deploy.getByTestId("plan-deploy-target")).toContainText("#1");
    const change = deploy.locator("[data-testid='plan-deploy-changes'] tr[data-field='env.LOG']");
    await expect(change).toHaveAttribute("data-kind", "changed");
    await expect(change.locator("td").nth(1)).toHaveText("debug");
    await expect(change.locator("td").nth(2)).toContainText("info");
    await expect(plan.getByTestId("plan-gates").locator("tr[data-gate='gate_service_not_pinned']")).toHaveAttribute("data-pass", "true");
    await noSeriousAxeViolation(page);

    await page.getByTestId("reason-input").fill("e2e: roll back the LOG change");
    await page.getByTestId("confirm-button").click();

    // The job's live page follows the steps without a reload.
    await expect(page).toHaveURL(/\/jobs\/[^/?]+$/, { timeout: 15_000 });
    await page.evaluate(() => ((window as any).__noReload = true));
    const detail = page.getByTestId("job-detail");
    await expect(detail).toBeVisible();
    await expect(detail.getByTestId("job-step")).toHaveCount(6);
    await expect(detail.getByTestId("job-state").first()).toHaveAttribute("data-state", "succeeded", { timeout: 150_000 });
    await expect(detail.locator("[data-testid='job-step'][data-step='update']")).toHaveAttribute("data-state", "succeeded");
    await expect(detail.locator("[data-testid='job-step'][data-step='pin']")).toHaveAttribute("data-state", "succeeded");
    expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

    // The service runs #1's spec again, recorded as applied by the job, and
    // is pinned: a further rollback is planned blocked.
    await page.goto(`/deployments?service=${rb}`);
    await hydrated(page);
    await expect(page.getByTestId("deploy-env").locator("tr[data-key='LOG'] td")).toHaveText("info", { timeout: 20_000 });
    await expect(history.first()).toContainText("applied");
    await expect(history.first()).toHaveAttribute("data-current", "true");
    await expect(page.getByTestId("deploy-pin")).toBeVisible();
    await page.getByTestId("rollback-button").click();
    await expect(plan).toHaveAttribute("data-blocked", "true", { timeout: 15_000 });
    await expect(plan.getByTestId("plan-blocked")).toBeVisible();
    await expect(plan.getByTestId("plan-gates").locator("tr[data-gate='gate_service_not_pinned']")).toHaveAttribute("data-pass", "false");
    await page.keyboard.press("Escape");
    void problems;
  } finally {
    // Off its page first: the page would read the removed service (a 404).
    await page.goto("about:blank");
    try {
      docker("service", "rm", rb);
      // Its container goes before the next test starts: the interfaces
      // going away make Chromium's fetches fail (ERR_NETWORK_CHANGED).
      for (let i = 0; i < 60; i++) {
        if (!docker("ps", "-aq", "--filter", `label=com.docker.swarm.service.name=${rb}`).trim()) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      docker("image", "rm", "-f", image);
    } catch (e) {
      console.warn(`could not remove the e2e service ${rb} or its image: ${e}`);
    }
  }
});
