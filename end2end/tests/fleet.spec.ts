import { test, expect, hydrated } from "./fixtures";
import * as fs from "fs";
import * as path from "path";

const sim = () => `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;
const placementFile = () => path.join(process.env.E2E_DATA_DIR!, "config/placement/dev.json");

test("overview shows fleet health per kind and placement revisions", async ({ page, problems }) => {
  await page.goto("/");
  await hydrated(page);
  const summary = page.getByTestId("health-summary");
  await expect(summary.locator("tr[data-kind='gateway'] td").nth(1)).toHaveText("1");
  for (const kind of ["aggregate", "projection", "runner"]) {
    await expect(summary.locator(`tr[data-kind='${kind}'] td`).nth(1)).toHaveText("8");
  }
  await expect(page.getByTestId("meta-aggregate").getByTestId("revision")).toHaveText(/\d+/);
  await expect(page.getByTestId("live-badge")).toHaveAttribute("data-state", "live");
  void problems;
});

test("tenants page pages, sorts and filters on the server, and opens a tenant", async ({ page, problems }) => {
  await page.goto("/tenants");
  await hydrated(page);
  const rows = page.locator("table.data-table tbody tr");
  await expect(rows).toHaveCount(50);
  await expect(page.locator(".table-footer span")).toHaveText("500 rows · page 1 of 10");
  await expect(rows.first().locator("td").first()).toHaveText("t-00000");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.locator(".table-footer span")).toHaveText("500 rows · page 2 of 10");
  await expect(rows.first().locator("td").first()).toHaveText("t-00050");
  await page.getByRole("columnheader", { name: "Tenant" }).getByRole("button").click();
  await expect(rows.first().locator("td").first()).toHaveText("t-00499");
  await page.getByRole("textbox", { name: "Tenant id contains" }).fill("t-0042");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.locator(".table-footer span")).toHaveText("10 rows · page 1 of 1");
  await page.getByRole("link", { name: "t-00427" }).click();
  await expect(page).toHaveURL(/\/tenants\/t-00427$/);
  const res = page.getByTestId("resolutions");
  await expect(res.locator("tr[data-kind='aggregate'] td").nth(1)).toHaveText("a3");
  await expect(res.locator("tr[data-kind='runner'] td").nth(3)).toContainText("http://127.0.0.1:");
  void problems;
});

test("scale & placement shows shards, tenant counts, revision and source", async ({ page, problems }) => {
  await page.goto("/placement");
  await hydrated(page);
  for (const kind of ["aggregate", "projection", "runner"]) {
    const section = page.getByTestId(`placement-${kind}`);
    await expect(section.locator("tbody tr")).toHaveCount(4);
    await expect(section.locator("tbody tr").first().getByTestId("tenant-count")).toHaveText("125");
    await expect(section.getByTestId("meta-placement")).toContainText("config/placement/dev.json");
  }
  void problems;
});

test("a killed instance shows as down live, and comes back", async ({ page, problems, request }) => {
  const instances = await (await request.get(`${sim()}/sim/instances`)).json();
  const victim = instances.find((i: any) => i.id === "aggregate-a1-0");
  expect(victim).toBeTruthy();
  await page.goto("/fleet?kind=aggregate");
  await hydrated(page);
  const row = page.locator("tbody tr", { hasText: `http://${victim.addr}` });
  await expect(row.locator(".badge")).toHaveText("healthy");
  expect((await request.put(`${sim()}/sim/instances/${victim.id}/faults`, { data: { down: true } })).status()).toBe(204);
  try {
    await expect(row.locator(".badge").first()).toHaveText("down", { timeout: 15_000 });
    await page.goto("/");
    await hydrated(page);
    await expect(page.getByTestId("health-summary").locator("tr[data-kind='aggregate']").getByTestId("unhealthy")).toHaveText("1");
  } finally {
    await request.put(`${sim()}/sim/instances/${victim.id}/faults`, { data: {} });
  }
  await expect(page.getByTestId("health-summary").locator("tr[data-kind='aggregate']").getByTestId("unhealthy")).toHaveText("0", { timeout: 15_000 });
  void problems;
});

test("a placement change shows in an open page without reload", async ({ page, problems }) => {
  await page.goto("/tenants/t-00007");
  await hydrated(page);
  await page.evaluate(() => ((window as any).__noReload = true));
  const res = page.getByTestId("resolutions");
  await expect(res.locator("tr[data-kind='runner'] td").nth(1)).toHaveText("r3");
  const doc = JSON.parse(fs.readFileSync(placementFile(), "utf8"));
  doc.revision += 1;
  doc.runner_placement.tenants["t-00007"] = "r0";
  const tmp = placementFile() + ".e2e-tmp";
  fs.writeFileSync(tmp, JSON.stringify(doc));
  fs.renameSync(tmp, placementFile());
  await expect(res.locator("tr[data-kind='runner'] td").nth(1)).toHaveText("r0", { timeout: 15_000 });
  await expect(page.getByTestId("meta-placement").getByTestId("revision")).toHaveText(String(doc.revision));
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  void problems;
});
