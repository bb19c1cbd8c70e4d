import { test, expect, hydrated, signIn } from "./fixtures";

const pages: [string, string][] = [
  ["/", "Overview"],
  ["/fleet", "Fleet"],
  ["/tenants", "Tenants"],
  ["/placement", "Scale & Placement"],
  ["/jobs", "Jobs"],
  ["/config", "Config"],
  ["/definitions", "Definitions"],
  ["/deployments", "Deployments"],
  ["/drift", "Platform Drift"],
  ["/observability", "Observability"],
  ["/audit", "Audit Log"],
  ["/users", "Users"],
  ["/sessions", "Sessions"],
  ["/roles", "Roles & Permissions"],
  ["/settings", "Settings"],
];

for (const [path, title] of pages) {
  test(`${path} renders and hydrates without console errors or CSP violations`, async ({ page, problems }) => {
    const res = await page.goto(path);
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toContain("'wasm-unsafe-eval'");
    await hydrated(page);
    // Late hydration (Suspense content, resources) must not fail either.
    await page.waitForLoadState("networkidle");
    await expect(page.locator("h1")).toHaveText(title);
    await expect(page.getByRole("navigation", { name: "Breadcrumb" })).toBeVisible();
    await expect(page).toHaveTitle(`${title} · Cloudlysis Control`);
    void problems;
  });
}

test("unknown pages show the not-found page with 404", async ({ page }) => {
  const res = await page.goto("/no/such/page");
  expect(res?.status()).toBe(404);
  await expect(page.getByTestId("not-found")).toBeVisible();
});

test("navigation after hydration is client-side", async ({ page, problems }) => {
  await page.goto("/");
  await hydrated(page);
  await page.evaluate(() => ((window as any).__noReload = true));
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tenants" }).click();
  await expect(page).toHaveURL(/\/tenants$/);
  await expect(page.locator("h1")).toHaveText("Tenants");
  await expect(page.getByRole("link", { name: "Tenants" })).toHaveAttribute("aria-current", "page");
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  void problems;
});

test("arrow keys move focus through the navigation", async ({ page, problems }) => {
  await page.goto("/");
  await hydrated(page);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Overview" }).focus();
  await page.keyboard.press("ArrowDown");
  await expect(nav.getByRole("link", { name: "Fleet" })).toBeFocused();
  await page.keyboard.press("ArrowUp");
  await expect(nav.getByRole("link", { name: "Overview" })).toBeFocused();
  void problems;
});

const ids: [string, string][] = [
  ["4bf92f3577b34da6a3ce929d0e0e4736", "trace"],
  ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "trace"],
  ["req_0123456789abcdef0123456789abcdef", "request"],
  ["cor_0123456789abcdef0123456789abcdef", "correlation"],
  ["job_0123456789abcdef0123456789abcdef", "job"],
  ["3f2c0a9e-1b1a-4c1e-9d7e-0a1b2c3d4e5f", "request_or_correlation"],
];

for (const [id, kind] of ids) {
  test(`global search recognises ${id} as ${kind}`, async ({ page, problems }) => {
    await page.goto("/");
    await hydrated(page);
    const box = page.getByRole("textbox", { name: /Search by request/ });
    await box.fill(id);
    await box.press("Enter");
    await expect(page).toHaveURL(/\/search\?q=/);
    await expect(page.getByTestId("search-result")).toHaveAttribute("data-kind", kind);
    void problems;
  });
}

test("global search rejects what is not an id, inline", async ({ page, problems }) => {
  await page.goto("/settings");
  await hydrated(page);
  const box = page.getByRole("textbox", { name: /Search by request/ });
  await box.fill("hello world");
  await box.press("Enter");
  await expect(page.getByRole("search").getByRole("alert")).toContainText("Not an id");
  await expect(box).toHaveAttribute("aria-invalid", "true");
  await expect(page).toHaveURL(/\/settings$/);
  void problems;
});

test("a server-function call shows its ids in the Last request panel", async ({ page, problems }) => {
  await page.goto("/settings");
  await hydrated(page);
  const panel = page.getByTestId("last-request");
  const responses: string[] = [];
  page.on("response", (r) => {
    if (r.url().includes("/api/status/get_server_status")) responses.push(r.headers()["x-request-id"]);
  });
  await page.getByRole("button", { name: "Check readiness now" }).click();
  await expect.poll(() => responses.length).toBe(2);
  const last = responses[1];
  expect(last).toMatch(/^req_[0-9a-f]{32}$/);
  await expect(panel.locator(".id-chip[data-kind='request id'] .id-value").first()).toHaveText(last);
  // The two calls were one flow: the same correlation id, and a trace id.
  await expect(panel.locator(".id-chip[data-kind='correlation id'] .id-value")).toHaveText(/^cor_[0-9a-f]{32}$/);
  await expect(panel.locator(".id-chip[data-kind='trace id'] .id-value")).toHaveText(/^[0-9a-f]{32}$/);
  // Persisted in localStorage across a reload.
  await page.reload();
  await hydrated(page);
  await expect(panel.locator(".id-chip[data-kind='request id'] .id-value").first()).toHaveText(last);
  void problems;
});

test("the confirmation modal traps focus and closes on Escape", async ({ page, problems }) => {
  await page.goto("/settings");
  await hydrated(page);
  const opener = page.getByRole("button", { name: "Clear request history…" });
  await opener.click();
  const dialog = page.getByRole("dialog", { name: "Clear request history?" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(dialog.getByRole("button", { name: "Clear" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.keyboard.press("Shift+Tab");
  await expect(dialog.getByRole("button", { name: "Clear" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  await expect(opener).toBeFocused();
  void problems;
});

test("the readiness table sorts by a column", async ({ page, problems }) => {
  await page.goto("/settings");
  await hydrated(page);
  const header = page.getByRole("columnheader", { name: "Check" });
  await expect(header).toHaveAttribute("aria-sort", "none");
  await header.getByRole("button").click();
  await expect(header).toHaveAttribute("aria-sort", "ascending");
  await header.getByRole("button").click();
  await expect(header).toHaveAttribute("aria-sort", "descending");
  await expect(page.getByRole("cell", { name: "data_dir" })).toBeVisible();
  void problems;
});

test("the theme follows the OS and can be pinned, and the choice persists", async ({ browser, baseURL }) => {
  const ctx = await browser.newContext({ colorScheme: "dark", baseURL });
  await signIn(ctx, baseURL!, "admin");
  const page = await ctx.newPage();
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.goto("/settings");
  await hydrated(page);
  expect(await bg()).toBe("rgb(13, 17, 23)");
  await page.getByRole("combobox", { name: "Theme" }).selectOption("light");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  expect(await bg()).toBe("rgb(247, 248, 250)");
  await page.reload();
  await hydrated(page);
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  expect(await bg()).toBe("rgb(247, 248, 250)");
  // The pinned theme holds on the login page too (outside the app frame).
  await ctx.clearCookies();
  await page.goto("/login");
  await hydrated(page);
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  await ctx.close();
});
