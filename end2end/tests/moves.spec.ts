import { test, expect, hydrated } from "./fixtures";

const sim = () => `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;

async function instances(request: any): Promise<any[]> {
  return await (await request.get(`${sim()}/sim/instances`)).json();
}

/// Quick drains everywhere (the dev default is 2 s per instance).
async function quickDrains(request: any, extra: Record<string, any> = {}, only?: (i: any) => boolean) {
  for (const i of await instances(request)) {
    if (only && !only(i)) continue;
    const r = await request.put(`${sim()}/sim/instances/${i.id}/faults`, { data: { drain_ms: 200, ...extra } });
    expect(r.status()).toBe(204);
  }
}

/// Opens a move dialog until its plan is shown (un)blocked: the gates read
/// the health probes, which see a fault (or the error ratios after start)
/// within a probe interval or two.
async function openUntil(page: any, button: string, blocked: boolean) {
  for (let i = 0; i < 30; i++) {
    await page.getByTestId(button).click();
    const plan = page.getByTestId("plan");
    await expect(plan).toBeVisible({ timeout: 10_000 });
    if ((await plan.getAttribute("data-blocked")) === String(blocked)) return plan;
    await page.keyboard.press("Escape");
    await page.waitForTimeout(1_000);
  }
  throw new Error(`${button}: the plan never became ${blocked ? "blocked" : "unblocked"}`);
}

const openUnblocked = (page: any, button: string) => openUntil(page, button, false);

test("migrate a tenant from its detail page: plan, reason, live progress, new shard", async ({ page, problems, request }) => {
  test.setTimeout(120_000);
  await quickDrains(request);
  try {
    await page.goto("/tenants/t-00005");
    await hydrated(page);
    await page.getByTestId("migrate-kind").selectOption("projection");
    await page.getByTestId("migrate-target").fill("p3");
    const plan = await openUnblocked(page, "migrate-tenant-button");
    // The plan: gates with values, the steps, the point of no return, the reverse.
    await expect(plan.getByTestId("plan-gates").locator("tr[data-gate='gate_target_healthy']").first()).toHaveAttribute("data-pass", "true");
    await expect(plan.getByTestId("plan-steps").locator("tr[data-step='placement:projection']")).toContainText("point of no return");
    await expect(plan.getByTestId("plan-pnr")).toContainText("placement:projection");
    await expect(plan.getByTestId("plan-reverse")).toContainText("tenants.migrate");
    await page.getByTestId("reason-input").fill("e2e: move t-00005 to p3");
    await page.getByTestId("confirm-button").click();
    await expect(page).toHaveURL(/\/jobs\/job_[0-9a-f]{32}$/);
    const detail = page.getByTestId("job-detail");
    await expect(detail.getByTestId("job-state").first()).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
    await expect(page.getByTestId("job-reverse")).toBeVisible();
    await page.getByTestId("job-tenant-link").click();
    await expect(page).toHaveURL(/\/tenants\/t-00005$/);
    await hydrated(page);
    await expect(page.locator("[data-testid='resolutions'] tr[data-kind='projection']")).toContainText("p3");
  } finally {
    await quickDrains(request, {}, () => true);
  }
});

test("a blocked migration shows its failing gate with the observed value", async ({ page, problems, request }) => {
  await quickDrains(request, { unready: true }, (i) => i.kind === "runner" && i.shard === "r3");
  try {
    await page.goto("/tenants/t-00006");
    await hydrated(page);
    await page.getByTestId("migrate-kind").selectOption("runner");
    await page.getByTestId("migrate-target").fill("r3");
    const plan = await openUntil(page, "migrate-tenant-button", true);
    await expect(plan.getByTestId("plan-blocked")).toBeVisible();
    const gate = plan.locator("tr[data-gate='gate_target_healthy'][data-pass='false']").first();
    await expect(gate).toContainText("unready");
    await page.getByTestId("reason-input").fill("e2e: must be refused");
    await page.getByTestId("confirm-button").click();
    await expect(page.getByTestId("dialog-error")).toContainText("cannot be started");
    await expect(page).toHaveURL(/\/tenants\/t-00006$/);
  } finally {
    await quickDrains(request);
  }
});

test("evacuate a shard and watch the parent's progress", async ({ page, problems, request }) => {
  test.setTimeout(180_000);
  await quickDrains(request);
  await page.goto("/placement");
  await hydrated(page);
  const form = page.getByTestId("shard-actions-runner");
  await form.getByTestId("shard-input").fill("r2");
  await form.getByTestId("targets-input").fill("r0, r1");
  await form.getByTestId("concurrency-input").fill("10");
  const plan = await openUnblocked(page, "evacuate-runner-button");
  await expect(plan.getByTestId("plan-moves")).toContainText("125 tenants");
  await page.getByTestId("reason-input").fill("e2e: empty r2");
  await page.getByTestId("confirm-button").click();
  await expect(page).toHaveURL(/\/jobs\/job_[0-9a-f]{32}$/);
  const detail = page.getByTestId("job-detail");
  // Progress counts tenants, live.
  await expect(detail.getByTestId("job-progress")).toContainText(/[1-9][0-9]* ?\/ ?125/, { timeout: 60_000 });
  await expect(detail.getByTestId("job-state").first()).toHaveAttribute("data-state", "succeeded", { timeout: 150_000 });
  await page.goto("/placement");
  await hydrated(page);
  await expect(page.locator("[data-testid='placement-runner'] tr[data-shard='r2'] [data-testid='tenant-count']")).toHaveText("0");
});
