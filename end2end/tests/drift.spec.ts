import { test, expect, hydrated } from "./fixtures";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

// The Platform Drift page against a real Docker Engine in Swarm mode, as
// deployments.spec.ts: without CONTROL_TEST_DOCKER_SOCKET the Swarm part is
// skipped, loudly, except in CI, where a missing daemon is a failure.
const socket = process.env.CONTROL_TEST_DOCKER_SOCKET;
if (!socket) {
  const why = "CONTROL_TEST_DOCKER_SOCKET is unset: no Docker Engine in Swarm mode to compare";
  if (process.env.CI === "true") throw new Error(`drift.spec.ts: ${why} (CI=true, so this fails)`);
  console.warn(`\n!!! drift.spec.ts (Swarm part) SKIPPED: ${why} !!!\n`);
}
test.describe.configure({ mode: "serial" });

function docker(...args: string[]) {
  return execFileSync("docker", args, {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, DOCKER_HOST: `unix://${socket}` },
  });
}

test("the drift page renders its summary, its items or that there is no drift, and when it computed them", async ({ page, problems }) => {
  const res = await page.goto("/drift");
  expect(res?.status()).toBe(200);
  await hydrated(page);
  await expect(page.locator("h1")).toHaveText("Platform Drift");
  await expect(page.getByTestId("drift-summary")).toBeVisible();
  await expect(page.getByTestId("drift-count-extra")).toHaveText(/^\d+$/);
  await expect(page.getByTestId("drift-count-all")).toHaveText(/^\d+$/);
  await expect(page.getByTestId("drift-items").or(page.getByTestId("drift-none"))).toBeVisible();
  await expect(page.getByTestId("drift-computed")).toBeVisible();
  await expect(page.getByTestId("drift-sources")).toBeVisible();
  void problems;
});

test.describe("against the Swarm", () => {
  test.skip(!socket, "needs a Docker Engine in Swarm mode (CONTROL_TEST_DOCKER_SOCKET)");

  // In the desired stack's namespace, not in its stack file: extra.
  const extra = `e2edeploy-extra-${randomBytes(4).toString("hex")}`;

  test.beforeAll(() => {
    // No replicas: the image need not exist, nothing is pulled or resolved.
    docker(
      "service", "create", "--detach", "--no-resolve-image",
      "--name", extra,
      "--label", "com.docker.stack.namespace=cloudlysis",
      "--replicas", "0",
      "cltest/none:1",
    );
  });

  test.afterAll(() => {
    try {
      docker("service", "rm", extra);
    } catch (e) {
      console.warn(`could not remove the e2e service ${extra}: ${e}`);
    }
  });

  test("a service started by hand in the platform's stack is extra, with a command to remove it; the category filter keeps it", async ({ page, problems }) => {
    test.setTimeout(60_000);
    await page.goto("/drift");
    await hydrated(page);
    const row = page.locator(`[data-testid='drift-items'] tr[data-category='extra'][data-subject='${extra}']`);
    // The page reads again by itself until the observer has seen it.
    await expect(row).toBeVisible({ timeout: 20_000 });
    await expect(row.getByTestId("drift-command")).toContainText(extra);
    expect(Number(await page.getByTestId("drift-count-extra").innerText())).toBeGreaterThanOrEqual(1);
    // An observed service links to its view on the Deployments page.
    await expect(row.getByRole("link", { name: extra })).toHaveAttribute("href", `/deployments?service=${extra}`);

    // The count is a link setting the category filter (in the URL).
    await page.locator("[data-testid='drift-summary'] a[data-category='extra']").click();
    await expect(page).toHaveURL(/[?&]category=extra\b/);
    await expect(page.locator("#drift-category")).toHaveValue("extra");
    await expect(row).toBeVisible();
    const rows = page.locator("[data-testid='drift-items'] tbody tr");
    for (const c of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-category")))) {
      expect(c).toBe("extra");
    }

    // A link with the filter shows the same after a reload.
    await page.goto("/drift?category=extra");
    await hydrated(page);
    await expect(page.locator("#drift-category")).toHaveValue("extra");
    await expect(row).toBeVisible({ timeout: 10_000 });
    await expect(page.locator("[data-testid='drift-summary'] a[data-category='extra']")).toHaveAttribute("aria-current", "true");

    // Another category leaves it out; back to all brings it back.
    await page.locator("#drift-category").selectOption("missing");
    await expect(page).toHaveURL(/[?&]category=missing\b/);
    await expect(row).toHaveCount(0);
    await page.locator("#drift-category").selectOption("");
    await expect(page).not.toHaveURL(/[?&]category=/);
    await expect(row).toBeVisible();
    void problems;
  });
});
