import { test, expect, hydrated } from "./fixtures";
import AxeBuilder from "@axe-core/playwright";

const pages = [
  "/",
  "/fleet",
  "/tenants",
  "/tenants/t-00042",
  "/placement",
  "/jobs",
  "/config",
  "/definitions",
  "/deployments",
  "/drift",
  "/observability",
  "/audit",
  "/users",
  "/sessions",
  "/roles",
  "/settings",
  "/search?q=job_123",
];

for (const path of pages) {
  test(`axe finds no serious or critical violation on ${path}`, async ({ page, problems }) => {
    await page.goto(path);
    await hydrated(page);
    await page.waitForLoadState("networkidle");
    const result = await new AxeBuilder({ page }).analyze();
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
    void problems;
  });
}

test("fleet filters and page live in the URL: a reload and a copied link keep them", async ({ page, context, problems }) => {
  await page.goto("/fleet");
  await hydrated(page);
  await page.getByLabel("Kind").selectOption("runner");
  await expect(page).toHaveURL(/[?&]kind=runner\b/);
  await page.getByLabel("Status").selectOption("healthy");
  await expect(page).toHaveURL(/[?&]status=healthy\b/);
  await expect(page.locator("table.data-table tbody tr")).toHaveCount(8);
  const link = page.url();
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Kind")).toHaveValue("runner");
  await expect(page.getByLabel("Status")).toHaveValue("healthy");
  await expect(page.locator("table.data-table tbody tr")).toHaveCount(8);
  const other = await context.newPage();
  await other.goto(link);
  await hydrated(other);
  await expect(other.getByLabel("Kind")).toHaveValue("runner");
  await expect(other.locator("table.data-table tbody tr td:nth-child(2)").first()).toHaveText("runner");
  await other.close();
  void problems;
});

test("tenants filter, sort and page live in the URL, and back restores them", async ({ page, problems }) => {
  await page.goto("/tenants");
  await hydrated(page);
  const rows = page.locator("table.data-table tbody tr");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page).toHaveURL(/[?&]page=2\b/);
  await page.getByRole("columnheader", { name: "Tenant" }).getByRole("button").click();
  await expect(page).toHaveURL(/[?&]sort=0\.desc\b/);
  await expect(page).not.toHaveURL(/[?&]page=/);
  await expect(rows.first().locator("td").first()).toHaveText("t-00499");
  await page.getByRole("textbox", { name: "Tenant id contains" }).fill("t-004");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/[?&]q=t-004\b/);
  await expect(page.locator(".table-footer span")).toHaveText("100 rows · page 1 of 2");
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("textbox", { name: "Tenant id contains" })).toHaveValue("t-004");
  await expect(page.locator(".table-footer span")).toHaveText("100 rows · page 1 of 2");
  await expect(rows.first().locator("td").first()).toHaveText("t-00499");
  await page.goBack();
  await expect(page).not.toHaveURL(/[?&]q=/);
  await expect(page.getByRole("textbox", { name: "Tenant id contains" })).toHaveValue("");
  await expect(page.locator(".table-footer span")).toHaveText("500 rows · page 1 of 10");
  void problems;
});

test("times are <time> elements with a datetime, the UTC time on hover, on one line", async ({ page, problems }) => {
  await page.goto("/fleet");
  await hydrated(page);
  const t = page.locator("table.data-table tbody tr").first().locator("time");
  await expect(t).toHaveAttribute("datetime", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  await expect(t).toHaveAttribute("title", /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  await expect(t).toHaveText(/^(\d+s|\d+m) ago$/);
  expect(await t.evaluate((e) => getComputedStyle(e).whiteSpace)).toBe("nowrap");
  await page.goto("/sessions");
  await hydrated(page);
  await expect(page.getByTestId("sessions-table").locator("time").first()).toHaveAttribute("datetime", /Z$/);
  void problems;
});

test("the ids panel collapses and stays collapsed after a reload", async ({ page, problems }) => {
  await page.goto("/settings");
  await hydrated(page);
  const toggle = page.getByTestId("ids-panel-toggle");
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  const before = await page.locator("main").evaluate((e) => e.getBoundingClientRect().width);
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(page.locator("#last-request-body")).toBeHidden();
  const after = await page.locator("main").evaluate((e) => e.getBoundingClientRect().width);
  expect(after).toBeGreaterThan(before + 100);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("ids-panel-toggle")).toHaveAttribute("aria-expanded", "false");
  await expect(page.locator("#last-request-body")).toBeHidden();
  await page.getByTestId("ids-panel-toggle").click();
  await expect(page.locator("#last-request-body")).toBeVisible();
  void problems;
});

test("at 1280 px the fleet page does not overflow; its table scrolls in its own focusable region", async ({ page, problems }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto("/fleet");
  await hydrated(page);
  await expect(page.locator("table.data-table tbody tr").first()).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  const region = page.getByRole("region", { name: /^Instances/ });
  await expect(region).toHaveAttribute("tabindex", "0");
  const position = await page.locator("table.data-table thead th").first().evaluate((e) => getComputedStyle(e).position);
  expect(position).toBe("sticky");
  void problems;
});

test("each fleet instance shows a latency sparkline of its recent probes", async ({ page, problems }) => {
  await page.goto("/fleet?kind=gateway");
  await hydrated(page);
  const spark = page.locator("table.data-table tbody tr").first().getByTestId("sparkline");
  await expect(spark).toBeVisible();
  await expect(spark).toHaveAttribute("aria-label", /^Latency of the last \d+ probes/);
  // The poller keeps a history: after a few sweeps there is a line to draw.
  await expect
    .poll(async () => ((await spark.locator("polyline").getAttribute("points")) ?? "").split(" ").filter(Boolean).length, {
      timeout: 20_000,
    })
    .toBeGreaterThan(1);
  void problems;
});

test("a page from another build shows the out-of-date banner and reloads", async ({ page, problems }) => {
  let stale = true;
  await page.route("**/settings", async (route) => {
    const res = await route.fetch();
    let body = await res.text();
    if (stale) body = body.replace(/(<meta name="control-build" content=")[^"]*"/, '$1an-older-build"');
    await route.fulfill({ response: res, body });
  });
  await page.goto("/settings");
  const banner = page.getByTestId("stale-banner");
  await expect(banner).toContainText("This page is out of date — reload");
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(0);
  stale = false;
  await banner.getByRole("button", { name: "Reload" }).click();
  await hydrated(page);
  await expect(page.getByTestId("stale-banner")).toHaveCount(0);
  void problems;
});
