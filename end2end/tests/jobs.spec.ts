import { test, expect, hydrated } from "./fixtures";

const sim = () => `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;

async function gateway(request: any) {
  const instances = await (await request.get(`${sim()}/sim/instances`)).json();
  return instances.find((i: any) => i.kind === "gateway");
}

async function reloadFromPlacement(page: any, reason: string) {
  await page.goto("/placement");
  await hydrated(page);
  await page.getByTestId("reload-routing-button").click();
  await page.getByTestId("reason-input").fill(reason);
  await page.getByTestId("confirm-button").click();
  await expect(page).toHaveURL(/\/jobs\/job_[0-9a-f]{32}$/);
}

test("reload routing from Scale & Placement and watch it succeed live", async ({ page, problems }) => {
  await reloadFromPlacement(page, "routing edited for the e2e test");
  const detail = page.getByTestId("job-detail");
  await expect(detail).toBeVisible();
  // No reload: the state arrives over the job's event stream.
  await expect(detail.getByTestId("job-state").first()).toHaveAttribute("data-state", "succeeded", { timeout: 20_000 });
  const steps = page.getByTestId("job-step");
  expect(await steps.count()).toBeGreaterThanOrEqual(2);
  for (const s of await steps.all()) await expect(s).toHaveAttribute("data-state", "succeeded");
  await expect(page.getByText("routing edited for the e2e test")).toBeVisible();
  // The job is on the list, newest first.
  const id = page.url().split("/").pop()!;
  await page.goto("/jobs");
  await hydrated(page);
  await expect(page.locator(`tr[data-job='${id}']`)).toBeVisible();
});

test("a failing gateway shows its step failing with the error", async ({ page, problems, request }) => {
  const gw = await gateway(request);
  expect((await request.put(`${sim()}/sim/instances/${gw.id}/faults`, { data: { reload_fails: true } })).status()).toBe(204);
  try {
    await reloadFromPlacement(page, "reload against a broken gateway");
    await expect(page.getByTestId("job-detail").getByTestId("job-state").first()).toHaveAttribute("data-state", "failed", { timeout: 25_000 });
    const failed = page.locator("[data-testid='job-step'][data-state='failed']");
    await expect(failed).toHaveCount(1);
    await expect(failed.getByTestId("step-error")).toContainText("reload_failed");
  } finally {
    await request.put(`${sim()}/sim/instances/${gw.id}/faults`, { data: {} });
  }
});

test("a job waiting for a lock can be cancelled with a reason", async ({ page, problems, request }) => {
  const gw = await gateway(request);
  // The first job hangs in its reload step (the gateway's reload never
  // answers; its attempts time out and retry) and holds the routing lock;
  // the second waits for it.
  expect((await request.put(`${sim()}/sim/instances/${gw.id}/faults`, { data: { reload_hangs: true } })).status()).toBe(204);
  try {
    // Both through the launch flow: each opening of the dialog is a new key.
    await reloadFromPlacement(page, "e2e lock holder");
    await reloadFromPlacement(page, "e2e waiter");
    const waiting = page.url().split("/").pop()!;
    await page.goto(`/jobs/${waiting}`);
    await hydrated(page);
    await expect(page.getByTestId("job-detail").getByTestId("job-state").first()).toHaveAttribute("data-state", "waiting", { timeout: 15_000 });
    await expect(page.getByTestId("waiting-for")).toContainText("lock");
    await page.getByTestId("cancel-job").click();
    await page.getByTestId("reason-input").fill("not needed any more");
    await page.getByTestId("confirm-button").click();
    await expect(page.getByTestId("job-detail").getByTestId("job-state").first()).toHaveAttribute("data-state", "cancelled", { timeout: 15_000 });
    await expect(page.getByText("not needed any more")).toBeVisible();
  } finally {
    await request.put(`${sim()}/sim/instances/${gw.id}/faults`, { data: {} });
  }
});
